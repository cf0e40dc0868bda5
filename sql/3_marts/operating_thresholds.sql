-- grain: one row per evaluation, split and class (eval_id, split, class_name).
-- purpose: the confidence threshold to run each class at (its F1-optimal point) and what it
--          yields; none for a class without instances in the split.
with classes as (
    select * from int_class_metrics_with_thresholds
),

instances as (
    select * from int_class_instances_counted
),

labelled as (
    select * from int_evals_labelled
),

flagged as (
    select
        classes.*,
        coalesce(instances.has_instances, true) as has_instances,
        -- the confidence sweep's optimum when it was fetched, else performance-by-class's
        classes.sweep_threshold is not null as from_sweep
    from classes
    left join instances
        on instances.eval_id = classes.eval_id
        and instances.split = classes.split
        and instances.class_name = classes.class_name
),

chosen as (
    select
        flagged.workspace,
        flagged.eval_id,
        labelled.project,
        labelled.version_id,
        flagged.split,
        flagged.class_name,
        -- no recommendation without ground truth: the API's 0.5 there is a placeholder
        case when flagged.has_instances then
            coalesce(flagged.sweep_threshold, flagged.optimal_threshold) end as threshold,
        case when not flagged.has_instances then null
            when flagged.from_sweep then flagged.sweep_precision
            else flagged.precision end as precision,
        case when not flagged.has_instances then null
            when flagged.from_sweep then flagged.sweep_recall
            else flagged.recall end as recall,
        case when not flagged.has_instances then null
            when flagged.from_sweep then flagged.sweep_f1
            else flagged.f1 end as f1,
        case
            when not flagged.has_instances then 'no-instances'
            when flagged.from_sweep then 'confidence-sweep'
            when flagged.optimal_threshold is not null then 'performance-by-class'
        end as source,
        -- added in 0.2
        flagged.has_instances,
        coalesce(flagged.sweep_threshold, flagged.optimal_threshold) as reported_threshold,
        coalesce(labelled.is_latest_in_project, false) as is_latest_in_project,
        coalesce(labelled.is_latest_in_version, false) as is_latest_in_version
    from flagged
    left join labelled on labelled.eval_id = flagged.eval_id
)

select * from chosen
order by eval_id, split, class_name
