-- grain: one row per panel (panel).
-- purpose: how the latest fetch of each panel ended across all evaluations: is anything missing?
with panel_status as (
    select * from panel_status
),

counted as (
    select
        panel,
        count(*) as units,
        count(*) filter (where state = 'ok') as ok,
        count(*) filter (where state = 'not_done') as not_done,
        count(*) filter (where state = 'unavailable') as unavailable,
        count(*) filter (where state = 'not_materialized') as not_materialized,
        count(*) filter (where state = 'error') as error,
        count(*) filter (where state = 'ok') / count(*) as ok_share,
        sum(attempts) as attempts,
        sum(requests) as requests
    from panel_status
    group by panel
)

select * from counted
order by panel
