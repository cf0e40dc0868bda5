-- grain: one row per evaluation (eval_id).
-- purpose: the first table to open: headline metrics, sizes, panel health and the app link.
with evals as (
    select * from int_evals_summarized
)

select * from evals
