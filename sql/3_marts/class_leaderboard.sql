-- grain: one row per evaluation, split and class (eval_id, split, class_name).
-- purpose: which classes a model does best and worst on; rank 1 = the highest F1 in its
--          evaluation and split, classes without instances in the split last.
with class_metrics as (
    select * from class_metrics
),

instances as (
    select * from int_class_instances_counted
),

labelled as (
    select * from int_evals_labelled
),

classes as (
    select
        class_metrics.*,
        coalesce(instances.has_instances, true) as has_instances,
        instances.instance_count,
        instances.count_unit,
        -- a rank by a metric covers only the classes that have instances and a value
        coalesce(instances.has_instances, true) and class_metrics.map50 is not null
            as map50_ranked,
        coalesce(instances.has_instances, true) and class_metrics.iou is not null
            as iou_ranked
    from class_metrics
    left join instances
        on instances.eval_id = class_metrics.eval_id
        and instances.split = class_metrics.split
        and instances.class_name = class_metrics.class_name
),

ranked as (
    select
        classes.workspace,
        classes.eval_id,
        labelled.project,
        labelled.version_id,
        classes.split,
        classes.class_name,
        classes.task_type,
        row_number() over by_f1 as rank,
        case when classes.map50_ranked then rank() over by_map50 end as map50_rank,
        count(*) over per_split as classes_in_split,
        classes.f1,
        classes.precision,
        classes.recall,
        classes.map50,
        classes.map50_95,
        classes.iou,
        classes.optimal_threshold,
        -- added in 0.2
        classes.has_instances,
        classes.instance_count,
        classes.count_unit,
        count(*) filter (where classes.has_instances) over per_split as classes_with_instances,
        case when classes.iou_ranked then rank() over by_iou end as iou_rank,
        coalesce(labelled.is_latest_in_project, false) as is_latest_in_project,
        coalesce(labelled.is_latest_in_version, false) as is_latest_in_version
    from classes
    left join labelled on labelled.eval_id = classes.eval_id
    window
        per_split as (partition by classes.eval_id, classes.split),
        -- absent classes last; ties on F1 broken by mAP50, then by name: rank is unique
        by_f1 as (
            partition by classes.eval_id, classes.split
            order by classes.has_instances desc, classes.f1 desc nulls last,
                classes.map50 desc nulls last, classes.class_name
        ),
        by_map50 as (
            partition by classes.eval_id, classes.split, classes.map50_ranked
            order by classes.map50 desc
        ),
        by_iou as (
            partition by classes.eval_id, classes.split, classes.iou_ranked
            order by classes.iou desc
        )
)

select * from ranked
order by eval_id, split, rank
