-- grain: one row per evaluation, confidence variant and class index
--        (eval_id, confidence, class_idx).
-- purpose: the class name behind each confusion-matrix index, to resolve image_confusion's indices.
with confusion_matrix as (
    select * from confusion_matrix
),

class_indices as (
    select eval_id, confidence, split, actual_idx as class_idx, actual_class as class_name
    from confusion_matrix
    union all
    select eval_id, confidence, split, predicted_idx as class_idx, predicted_class as class_name
    from confusion_matrix
),

one_name_per_index as (
    -- every split of a variant has the same classes; prefer the `all` matrix when present
    select eval_id, confidence, class_idx, class_name
    from class_indices
    qualify row_number() over (
        partition by eval_id, confidence, class_idx
        order by split = 'all' desc, split
    ) = 1
),

flagged as (
    select
        eval_id,
        confidence,
        class_idx,
        class_name,
        -- background is the matrix's last class (api-contract 9.1)
        class_idx = max(class_idx) over (partition by eval_id, confidence) as is_background
    from one_name_per_index
)

select * from flagged
