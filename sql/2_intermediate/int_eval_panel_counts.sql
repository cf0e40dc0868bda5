-- grain: one row per evaluation that has panel_status rows (eval_id).
-- purpose: how many of an evaluation's panel units ended in each state.
with panel_status as (
    select * from panel_status
),

counted as (
    select
        eval_id,
        count(*) as panels_total,
        count(*) filter (where state = 'ok') as panels_ok,
        count(*) filter (where state = 'not_done') as panels_not_done,
        count(*) filter (where state = 'unavailable') as panels_unavailable,
        count(*) filter (where state = 'not_materialized') as panels_not_materialized,
        count(*) filter (where state = 'error') as panels_error
    from panel_status
    group by eval_id
)

select * from counted
