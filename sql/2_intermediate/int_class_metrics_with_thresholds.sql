-- grain: one row per evaluation, split and class (eval_id, split, class_name).
-- purpose: per-class metrics next to the confidence sweep's F1-optimal operating point.
with class_metrics as (
    select * from class_metrics
),

optimal_thresholds as (
    select * from optimal_thresholds
    where class_name is not null  -- NULL = the whole split, not a class
),

joined as (
    select
        coalesce(class_metrics.workspace, optimal_thresholds.workspace) as workspace,
        coalesce(class_metrics.eval_id, optimal_thresholds.eval_id) as eval_id,
        coalesce(class_metrics.split, optimal_thresholds.split) as split,
        coalesce(class_metrics.class_name, optimal_thresholds.class_name) as class_name,
        class_metrics.task_type,
        class_metrics.class_id,
        class_metrics.map50,
        class_metrics.map50_95,
        class_metrics.map75,
        class_metrics.iou,
        class_metrics.precision,
        class_metrics.recall,
        class_metrics.f1,
        class_metrics.optimal_threshold,
        optimal_thresholds.optimal_threshold as sweep_threshold,
        optimal_thresholds.precision as sweep_precision,
        optimal_thresholds.recall as sweep_recall,
        optimal_thresholds.f1 as sweep_f1
    from class_metrics
    full outer join optimal_thresholds
        on optimal_thresholds.eval_id = class_metrics.eval_id
        and optimal_thresholds.split = class_metrics.split
        and optimal_thresholds.class_name = class_metrics.class_name
)

select * from joined
