-- grain: one row per evaluation (eval_id).
-- purpose: an evaluation's headline metrics, sizes and panel health, shared by the eval marts.
with evaluations as (
    select * from evaluations
),

split_metrics as (
    select * from split_metrics
),

class_metrics as (
    select * from class_metrics
),

image_predictions as (
    select * from image_predictions
),

confusion_classes as (
    select * from int_confusion_classes_indexed
),

panel_counts as (
    select * from int_eval_panel_counts
),

labelled as (
    select * from int_evals_labelled
),

test_split as (
    select eval_id, map50_95
    from split_metrics
    where split = 'test'
),

class_counts as (
    select eval_id, count(distinct class_name) as class_count
    from class_metrics
    group by eval_id
),

confusion_class_counts as (
    -- fallback when performance-by-class is missing: the matrix's classes minus background
    select eval_id, max(classes) as class_count
    from (
        select eval_id, confidence, count(*) filter (where not is_background) as classes
        from confusion_classes
        group by eval_id, confidence
    )
    group by eval_id
),

image_counts as (
    select eval_id, count(distinct image_id) as image_count
    from image_predictions
    group by eval_id
),

summarized as (
    select
        evaluations.workspace,
        evaluations.eval_id,
        evaluations.project,
        evaluations.version_id,
        -- digits only (at most 9, an integer): a version id that is not a number has none
        case
            when regexp_matches(evaluations.version_id, '^[0-9]{1,9}$')
                then cast(evaluations.version_id as integer)
        end as version_number,
        evaluations.model_id,
        evaluations.model_url,
        evaluations.status,
        labelled.task_type,
        evaluations.created_at,
        evaluations.listed,
        evaluations.map,
        test_split.map50_95,
        evaluations.miou,
        evaluations.precision,
        evaluations.recall,
        case
            when evaluations.precision + evaluations.recall > 0
                then 2 * evaluations.precision * evaluations.recall
                    / (evaluations.precision + evaluations.recall)
            when evaluations.precision + evaluations.recall = 0 then 0.0
        end as f1,
        coalesce(class_counts.class_count, confusion_class_counts.class_count) as class_count,
        image_counts.image_count,
        coalesce(panel_counts.panels_total, 0) as panels_total,
        coalesce(panel_counts.panels_ok, 0) as panels_ok,
        coalesce(panel_counts.panels_not_done, 0) as panels_not_done,
        coalesce(panel_counts.panels_unavailable, 0) as panels_unavailable,
        coalesce(panel_counts.panels_not_materialized, 0) as panels_not_materialized,
        coalesce(panel_counts.panels_error, 0) as panels_error,
        evaluations.app_url,
        -- added in 0.2; the columns above are kept as they were, for compatibility
        evaluations.map as map50,  -- `map` is mAP@0.5: the same figure, named as elsewhere
        coalesce(panel_counts.app_panels_total, 0) as app_panels_total,
        coalesce(panel_counts.app_panels_ok, 0) as app_panels_ok,
        coalesce(panel_counts.panels_total, 0) as panel_units_total,
        coalesce(panel_counts.panels_ok, 0) as panel_units_ok,
        labelled.count_unit,
        labelled.is_latest_in_project,
        labelled.is_latest_in_version
    from evaluations
    left join labelled on labelled.eval_id = evaluations.eval_id
    left join test_split on test_split.eval_id = evaluations.eval_id
    left join class_counts on class_counts.eval_id = evaluations.eval_id
    left join confusion_class_counts on confusion_class_counts.eval_id = evaluations.eval_id
    left join image_counts on image_counts.eval_id = evaluations.eval_id
    left join panel_counts on panel_counts.eval_id = evaluations.eval_id
)

select * from summarized
