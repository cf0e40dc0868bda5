-- grain: one row per evaluation, split and class (eval_id, split, class_name).
-- purpose: which classes a model does best and worst on; rank 1 = the highest F1 in its
--          evaluation and split.
with class_metrics as (
    select * from class_metrics
),

evaluations as (
    select * from evaluations
),

ranked as (
    select
        class_metrics.workspace,
        class_metrics.eval_id,
        evaluations.project,
        evaluations.version_id,
        class_metrics.split,
        class_metrics.class_name,
        class_metrics.task_type,
        row_number() over by_f1 as rank,
        rank() over by_map50 as map50_rank,
        count(*) over (partition by class_metrics.eval_id, class_metrics.split) as classes_in_split,
        class_metrics.f1,
        class_metrics.precision,
        class_metrics.recall,
        class_metrics.map50,
        class_metrics.map50_95,
        class_metrics.iou,
        class_metrics.optimal_threshold
    from class_metrics
    left join evaluations on evaluations.eval_id = class_metrics.eval_id
    window
        -- ties on F1 broken by mAP50, then by name, so rank is unique within a split
        by_f1 as (
            partition by class_metrics.eval_id, class_metrics.split
            order by class_metrics.f1 desc nulls last, class_metrics.map50 desc nulls last,
                class_metrics.class_name
        ),
        by_map50 as (
            partition by class_metrics.eval_id, class_metrics.split
            order by class_metrics.map50 desc nulls last
        )
)

select * from ranked
order by eval_id, split, rank
