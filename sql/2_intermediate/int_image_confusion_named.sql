-- grain: one row per (actual, predicted) class pair in one image
--        (eval_id, confidence, image_id, actual_idx, predicted_idx).
-- purpose: image_confusion with class names, resolved through the indices of the
--          confusion matrix of the same evaluation and confidence variant.
with image_confusion as (
    select * from image_confusion
),

classes as (
    select * from int_confusion_classes_indexed
),

named as (
    select
        image_confusion.workspace,
        image_confusion.eval_id,
        image_confusion.confidence,
        image_confusion.image_id,
        image_confusion.actual_idx,
        image_confusion.predicted_idx,
        actual.class_name as actual_class,
        predicted.class_name as predicted_class,
        image_confusion.count,
        case
            when image_confusion.actual_idx = image_confusion.predicted_idx then 'correct'
            when actual.class_idx is null or predicted.class_idx is null then null
            when actual.is_background then 'false_positive'
            when predicted.is_background then 'missed'
            else 'misclassified'
        end as cell_kind
    from image_confusion
    -- `is not distinct from`: confidence NULL (the server's default variant) matches NULL
    left join classes as actual
        on actual.eval_id = image_confusion.eval_id
        and actual.confidence is not distinct from image_confusion.confidence
        and actual.class_idx = image_confusion.actual_idx
    left join classes as predicted
        on predicted.eval_id = image_confusion.eval_id
        and predicted.confidence is not distinct from image_confusion.confidence
        and predicted.class_idx = image_confusion.predicted_idx
)

select * from named
