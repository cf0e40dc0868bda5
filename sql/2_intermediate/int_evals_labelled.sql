-- grain: one row per evaluation (eval_id).
-- purpose: the light labels every mart repeats: resolved task type, the confusion counts'
--          unit, and whether the eval is the latest done one of its project and its version.
with evaluations as (
    select * from evaluations
),

split_metrics as (
    select * from split_metrics
),

test_split as (
    select eval_id, task_type
    from split_metrics
    where split = 'test'
),

done as (
    select *
    from evaluations
    where status = 'done'
        and project is not null  -- a deleted project's versions cannot be grouped
        and coalesce(listed, true)  -- an eval gone from the listing was deleted upstream
),

ranked as (
    -- newest first by creation time; eval_id breaks ties so exactly one is the latest
    select
        eval_id,
        count(*) over (partition by workspace, project, version_id) as done_evals_in_version,
        row_number() over (
            partition by workspace, project, version_id
            order by created_at desc nulls last, eval_id desc
        ) = 1 as is_latest_in_version,
        row_number() over (
            partition by workspace, project
            order by created_at desc nulls last, eval_id desc
        ) = 1 as is_latest_in_project
    from done
),

labelled as (
    select
        evaluations.workspace,
        evaluations.eval_id,
        evaluations.project,
        evaluations.version_id,
        evaluations.created_at,
        coalesce(evaluations.task_type, test_split.task_type) as task_type,
        case
            when coalesce(evaluations.task_type, test_split.task_type) = 'semantic-segmentation'
                then 'pixels'
            else 'instances'
        end as count_unit,
        ranked.done_evals_in_version,
        coalesce(ranked.is_latest_in_version, false) as is_latest_in_version,
        coalesce(ranked.is_latest_in_project, false) as is_latest_in_project
    from evaluations
    left join test_split on test_split.eval_id = evaluations.eval_id
    left join ranked on ranked.eval_id = evaluations.eval_id
)

select * from labelled
