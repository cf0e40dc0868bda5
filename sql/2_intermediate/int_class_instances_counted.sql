-- grain: one row per evaluation, split and class (eval_id, split, class_name).
-- purpose: whether a class has ground truth in a split, so marts rank absent classes last and
--          give them no threshold (the base tables keep what the API sent: zeros, 0.5).
with class_metrics as (
    select * from class_metrics
),

confusion_matrix as (
    select * from confusion_matrix
),

evaluations as (
    select * from evaluations
),

row_totals as (
    -- a class's matrix row sums to its ground truth (instances; semantic segmentation:
    -- pixels), whatever the confidence variant; background is the last class (api-contract 9.1)
    select
        workspace,
        eval_id,
        split,
        confidence,
        actual_class,
        cast(sum(count) as bigint) as row_total,  -- bigint in every warehouse
        actual_idx = max(actual_idx) over (partition by eval_id, split, confidence)
            as is_background
    from confusion_matrix
    group by workspace, eval_id, split, confidence, actual_idx, actual_class
),

matrix_counts as (
    select workspace, eval_id, split, actual_class as class_name, max(row_total) as instance_count
    from row_totals
    where not is_background
    group by workspace, eval_id, split, actual_class
),

joined as (
    select
        coalesce(class_metrics.workspace, matrix_counts.workspace) as workspace,
        coalesce(class_metrics.eval_id, matrix_counts.eval_id) as eval_id,
        coalesce(class_metrics.split, matrix_counts.split) as split,
        coalesce(class_metrics.class_name, matrix_counts.class_name) as class_name,
        class_metrics.task_type,
        class_metrics.map50,
        class_metrics.map50_95,
        class_metrics.iou,
        class_metrics.precision,
        class_metrics.recall,
        class_metrics.f1,
        matrix_counts.instance_count
    from class_metrics
    full outer join matrix_counts
        on matrix_counts.eval_id = class_metrics.eval_id
        and matrix_counts.split = class_metrics.split
        and matrix_counts.class_name = class_metrics.class_name
),

flagged as (
    select
        joined.workspace,
        joined.eval_id,
        joined.split,
        joined.class_name,
        joined.instance_count,
        case
            when coalesce(joined.task_type, evaluations.task_type) = 'semantic-segmentation'
                then 'pixels'
            else 'instances'
        end as count_unit,
        case
            -- the confusion matrix counts the ground truth: it decides when it was fetched
            when joined.instance_count is not null then joined.instance_count > 0
            -- else the API's signature of a class absent from the split (api-contract 8):
            -- no mAP and no IoU, precision = recall = F1 = 0 (and optimalThreshold 0.5)
            when joined.map50 is null and joined.map50_95 is null and joined.iou is null
                and joined.precision = 0 and joined.recall = 0 and joined.f1 = 0 then false
            else true
        end as has_instances
    from joined
    left join evaluations on evaluations.eval_id = joined.eval_id
)

select * from flagged
