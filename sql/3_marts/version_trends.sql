-- grain: one row per project version (workspace, project, version_id), from its latest
--        done evaluation.
-- purpose: how a project's metrics move across versions, with deltas and a `regressed` flag.
with latest as (
    select * from int_latest_done_evals
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
        coalesce(evals.map, evals.miou) as headline
    from latest
    inner join evals on evals.eval_id = latest.eval_id
),

with_previous as (
    select
        *,
        lag(version_id) over by_version as previous_version_id,
        lag(headline) over by_version as previous_headline,
        lag(map) over by_version as previous_map,
        lag(miou) over by_version as previous_miou,
        lag(f1) over by_version as previous_f1
    from versions
    -- version ids are numbers as text: order numerically, so "10" follows "9"
    window by_version as (
        partition by workspace, project order by version_number nulls last, version_id
    )
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
        map,
        miou,
        precision,
        recall,
        f1,
        previous_version_id,
        map - previous_map as map_delta,
        miou - previous_miou as miou_delta,
        f1 - previous_f1 as f1_delta,
        headline - previous_headline as headline_delta,
        headline < previous_headline as regressed
    from with_previous
)

select * from trends
order by workspace, project, version_number nulls last, version_id
