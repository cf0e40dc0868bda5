-- grain: one row per confusion-matrix cell
--        (eval_id, split, confidence, actual_class, predicted_class).
-- purpose: each cell labelled correct, misclassified, false_positive or missed, with its row share.
with confusion_matrix as (
    select * from confusion_matrix
),

with_background as (
    select
        *,
        -- background is the matrix's last class (api-contract 9.1)
        max(actual_idx) over (partition by eval_id, split, confidence) as background_idx
    from confusion_matrix
),

labelled as (
    select
        workspace,
        eval_id,
        split,
        confidence,
        confidence_threshold,
        actual_idx,
        predicted_idx,
        actual_class,
        predicted_class,
        count,
        case
            when actual_idx = predicted_idx then 'correct'
            when actual_idx = background_idx then 'false_positive'
            when predicted_idx = background_idx then 'missed'
            else 'misclassified'
        end as cell_kind,
        count / nullif(sum(count) over (
            partition by eval_id, split, confidence, actual_idx
        ), 0) as share_of_actual
    from with_background
)

select * from labelled
