-- grain: one row per compared model of a project version (workspace, project, version_id, model_id, frontier_metric).
-- purpose: the compare panel beside the evals it came from: each model's frontier metric
-- value, its rank in the version (1 = best; models without a value rank last, unranked),
-- latency, frontier flag, and the evaluation's status, time and app link.
with comparison as (
    select * from model_comparison
),

evaluations as (
    select * from evaluations
),

valued as (
    select
        comparison.*,
        case comparison.frontier_metric
            when 'mAP' then comparison.map50
            when 'mAP5095' then comparison.map50_95
            when 'mAP75' then comparison.map75
            when 'mIoU' then comparison.miou
            when 'precision' then comparison.precision
            when 'recall' then comparison.recall
            when 'f1' then comparison.f1
        end as frontier_value
    from comparison
),

ranked as (
    select
        valued.workspace,
        valued.project,
        valued.version_id,
        valued.model_id,
        valued.frontier_metric,
        valued.frontier_value,
        case when valued.frontier_value is not null then rank() over (
            partition by valued.workspace, valued.project, valued.version_id,
                valued.frontier_metric, valued.frontier_value is null
            order by valued.frontier_value desc
        ) end as frontier_rank,
        valued.median_latency_ms,
        valued.on_frontier,
        valued.exclusion_reason,
        valued.map50,
        valued.map50_95,
        valued.map75,
        valued.miou,
        valued.precision,
        valued.recall,
        valued.f1,
        valued.eval_id,
        evaluations.status as eval_status,
        evaluations.created_at as eval_created_at,
        evaluations.task_type,
        evaluations.listed as eval_listed,
        evaluations.app_url,
        count(*) over (
            partition by valued.workspace, valued.project, valued.version_id, valued.frontier_metric
        ) as models_in_version,
        valued.fetched_at
    from valued
    left join evaluations
        on evaluations.workspace = valued.workspace
        and evaluations.eval_id = valued.eval_id
)

select * from ranked
