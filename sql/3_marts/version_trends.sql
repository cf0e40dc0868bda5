-- grain: one row per project version (workspace, project, version_id), from its latest
--        done evaluation.
-- purpose: how a project's metrics move across versions, with deltas and a `regressed` flag
--          that ignores moves within the tolerance (metric noise).
with latest as (
    select * from int_latest_done_evals
),

labelled as (
    select * from int_evals_labelled
),

settings as (
    -- a session variable over the documented default: in DuckDB
    -- `set variable regression_tolerance = 0.02` (0 = any fall is a regression)
    select coalesce(cast(getvariable('regression_tolerance') as double), 0.01) as tolerance
),

evals as (
    select * from int_evals_summarized
),

versions as (
    select
        evals.workspace,
        evals.project,
        evals.version_id,
        evals.version_number,
        evals.eval_id,
        evals.task_type,
        evals.created_at,
        evals.map,
        evals.miou,
        evals.precision,
        evals.recall,
        evals.f1,
        -- the headline metric: mAP50 for detection-like tasks, mIoU when there is no mAP
        coalesce(evals.map, evals.miou) as headline,
        case when evals.map is not null then 'map' when evals.miou is not null then 'miou'
            end as headline_metric,
        labelled.is_latest_in_project
    from latest
    inner join evals on evals.eval_id = latest.eval_id
    left join labelled on labelled.eval_id = latest.eval_id
),

with_previous as (
    select
        *,
        lag(version_id) over by_version as previous_version_id,
        lag(headline) over by_version as previous_headline,
        lag(versions.map) over by_version as previous_map,
        lag(miou) over by_version as previous_miou,
        lag(f1) over by_version as previous_f1
    from versions
    -- version ids are numbers as text: order numerically, so "10" follows "9"
    window by_version as (
        partition by workspace, project order by version_number nulls last, version_id
    )
),

deltas as (
    select
        *,
        -- `map` qualified everywhere: sqlglot (the warehouse's transpiler) reads a bare `map` as
        -- DuckDB's map() function
        with_previous.map - previous_map as map_delta,
        miou - previous_miou as miou_delta,
        f1 - previous_f1 as f1_delta,
        -- the headline metric against the same metric of the previous version
        case headline_metric
            when 'map' then with_previous.map - previous_map
            when 'miou' then miou - previous_miou
        end as headline_delta
    from with_previous
),

trends as (
    select
        workspace,
        project,
        version_id,
        version_number,
        eval_id,
        task_type,
        created_at,
        deltas.map,
        miou,
        precision,
        recall,
        f1,
        previous_version_id,
        map_delta,
        miou_delta,
        f1_delta,
        headline_delta,
        -- fell by more than the tolerance; NULL for a project's first version
        headline_delta < -settings.tolerance as regressed,
        -- added in 0.2
        headline_metric,
        settings.tolerance,
        case when headline_delta is not null then headline_metric end as regression_metric,
        coalesce(is_latest_in_project, false) as is_latest_in_project,
        deltas.map as map50
    from deltas
    cross join settings
)

select * from trends
order by workspace, project, version_number nulls last, version_id
