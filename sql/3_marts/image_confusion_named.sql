-- grain: one row per (actual, predicted) class pair in one image
--        (eval_id, confidence, image_id, actual_idx, predicted_idx).
-- purpose: what each image's mistakes were, by class name, with the image's name and split.
with named as (
    select * from int_image_confusion_named
),

image_predictions as (
    select * from image_predictions
),

labelled as (
    select * from int_evals_labelled
),

joined as (
    select
        named.workspace,
        named.eval_id,
        named.confidence,
        named.image_id,
        image_predictions.image_name,
        image_predictions.split,
        named.actual_idx,
        named.predicted_idx,
        named.actual_class,
        named.predicted_class,
        named.cell_kind,
        named.count,
        -- added in 0.2
        coalesce(labelled.count_unit, 'instances') as count_unit,
        -- the server's default variant (confidence NULL) when exported, else the lowest asked
        coalesce(named.confidence, -1) = min(coalesce(named.confidence, -1)) over (
            partition by named.eval_id
        ) as is_default_variant,
        labelled.project,
        labelled.version_id,
        coalesce(labelled.is_latest_in_project, false) as is_latest_in_project,
        coalesce(labelled.is_latest_in_version, false) as is_latest_in_version
    from named
    left join labelled on labelled.eval_id = named.eval_id
    left join image_predictions
        on image_predictions.eval_id = named.eval_id
        and image_predictions.confidence is not distinct from named.confidence
        and image_predictions.image_id = named.image_id
)

select * from joined
