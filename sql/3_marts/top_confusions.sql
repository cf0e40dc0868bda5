-- grain: one row per non-zero, off-diagonal confusion cell
--        (eval_id, split, confidence, actual_class, predicted_class).
-- purpose: the most frequent mistakes of each matrix; rank 1 = the largest count in its
--          evaluation, split and confidence variant.
with cells as (
    select * from int_confusion_cells_named
),

evaluations as (
    select * from evaluations
),

mistakes as (
    -- off the diagonal, so background-background (a diagonal cell) is excluded
    select * from cells
    where actual_idx <> predicted_idx and count > 0
),

ranked as (
    select
        mistakes.workspace,
        mistakes.eval_id,
        evaluations.project,
        evaluations.version_id,
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
        mistakes.share_of_actual
    from mistakes
    left join evaluations on evaluations.eval_id = mistakes.eval_id
)

select * from ranked
order by eval_id, split, confidence nulls first, rank
