-- grain: one row per project version (workspace, project, version_id).
-- purpose: the latest done evaluation of each project version, with its headline metrics.
with latest as (
    select * from int_latest_done_evals
),

evals as (
    select * from int_evals_summarized
),

joined as (
    select
        evals.*,
        latest.done_evals_in_version
    from latest
    inner join evals on evals.eval_id = latest.eval_id
)

select * from joined
order by workspace, project, version_number nulls last, version_id
