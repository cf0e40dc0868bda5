-- grain: one row per evaluation that has panel_status rows (eval_id).
-- purpose: how many of an evaluation's panel units (requests: a panel per split and
--          confidence variant) ended in each state, and how many whole panels (the app's,
--          its version's compare included) are complete.
with panel_status as (
    select * from panel_status
),

evaluations as (
    select * from evaluations
),

version_units as (
    -- a panel of the project version (compare) is the eval's too: it has no eval_id, and its
    -- params name the version (etl.panels.PanelRequest.params)
    select evaluations.eval_id, panel_status.panel, panel_status.state
    from panel_status
    inner join evaluations
        on coalesce(panel_status.eval_id, '') = ''
        and panel_status.workspace = evaluations.workspace
        and panel_status.params in (
            'workspace=' || evaluations.workspace || '&project=' || evaluations.project
                || '&version=' || evaluations.version_id,
            -- as 0.2 development builds wrote it, before the workspace was in the key
            'project=' || evaluations.project || '&version=' || evaluations.version_id)
),

per_panel as (
    -- a panel (an endpoint, `get` included) is complete when every unit of it is ok
    select
        eval_id,
        panel,
        min(case when state = 'ok' then 1 else 0 end) = 1 as all_ok
    from (
        select eval_id, panel, state from panel_status
        where coalesce(eval_id, '') <> ''
        union all
        select eval_id, panel, state from version_units
    ) as units
    group by eval_id, panel
),

panels as (
    select
        eval_id,
        count(*) as app_panels_total,
        count(*) filter (where all_ok) as app_panels_ok
    from per_panel
    group by eval_id
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
),

joined as (
    select
        counted.*,
        panels.app_panels_total,
        panels.app_panels_ok
    from counted
    inner join panels on panels.eval_id = counted.eval_id
)

select * from joined
