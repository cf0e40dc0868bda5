-- grain: one row per evaluation, split and class (eval_id, split, class_name).
-- purpose: the confidence threshold to run each class at (its F1-optimal point) and what it yields.
with classes as (
    select * from int_class_metrics_with_thresholds
),

evaluations as (
    select * from evaluations
),

chosen as (
    -- the confidence sweep's optimum when it was fetched, else performance-by-class's
    select
        classes.workspace,
        classes.eval_id,
        evaluations.project,
        evaluations.version_id,
        classes.split,
        classes.class_name,
        coalesce(classes.sweep_threshold, classes.optimal_threshold) as threshold,
        case when classes.sweep_threshold is not null then classes.sweep_precision
            else classes.precision end as precision,
        case when classes.sweep_threshold is not null then classes.sweep_recall
            else classes.recall end as recall,
        case when classes.sweep_threshold is not null then classes.sweep_f1
            else classes.f1 end as f1,
        case
            when classes.sweep_threshold is not null then 'confidence-sweep'
            when classes.optimal_threshold is not null then 'performance-by-class'
        end as source
    from classes
    left join evaluations on evaluations.eval_id = classes.eval_id
)

select * from chosen
order by eval_id, split, class_name
