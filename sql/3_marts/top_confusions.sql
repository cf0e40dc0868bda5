-- grain: one row per non-zero, off-diagonal confusion cell
--        (eval_id, split, confidence, actual_class, predicted_class).
-- purpose: the most frequent mistakes of each matrix; rank 1 = the largest count in its
--          evaluation, split and confidence variant.
with cells as (
    select * from int_confusion_cells_named
),

labelled as (
    select * from int_evals_labelled
),

with_variant as (
    -- the server's default variant (confidence NULL) when exported, else the lowest asked;
    -- decided over every matrix of the eval, before its mistakes are picked
    select
        *,
        coalesce(confidence, -1) = min(coalesce(confidence, -1)) over (partition by eval_id)
            as is_default_variant
    from cells
),

mistakes as (
    -- off the diagonal, so background-background (a diagonal cell) is excluded
    select * from with_variant
    where actual_idx <> predicted_idx and count > 0
),

ranked as (
    select
        mistakes.workspace,
        mistakes.eval_id,
        labelled.project,
        labelled.version_id,
        mistakes.split,
        mistakes.confidence,
        mistakes.confidence_threshold,
        row_number() over (
            partition by mistakes.eval_id, mistakes.split, mistakes.confidence
            order by mistakes.count desc, mistakes.actual_idx, mistakes.predicted_idx
        ) as rank,
        mistakes.actual_class,
        mistakes.predicted_class,
        mistakes.cell_kind,
        mistakes.count,
        mistakes.share_of_actual,
        -- added in 0.2
        coalesce(labelled.count_unit, 'instances') as count_unit,
        mistakes.is_default_variant,
        coalesce(labelled.is_latest_in_project, false) as is_latest_in_project,
        coalesce(labelled.is_latest_in_version, false) as is_latest_in_version
    from mistakes
    left join labelled on labelled.eval_id = mistakes.eval_id
)

select * from ranked
order by eval_id, split, confidence nulls first, rank
