-- grain: one row per image with at least one error, per evaluation and confidence variant
--        (eval_id, confidence, image_id).
-- purpose: images to look at first: f1_rank 1 = lowest F1, fp_rank 1 = most false
--          positives; with the image's cluster and its mean F1.
with image_predictions as (
    select * from image_predictions
),

vector_clusters as (
    select * from vector_clusters
),

labelled as (
    select * from int_evals_labelled
),

with_variant as (
    -- the server's default variant (confidence NULL) when exported, else the lowest asked
    select
        *,
        coalesce(confidence, -1) = min(coalesce(confidence, -1)) over (partition by eval_id)
            as is_default_variant
    from image_predictions
),

with_errors as (
    select * from with_variant
    where coalesce(false_positives, 0) + coalesce(false_negatives, 0) > 0
),

ranked as (
    select
        with_errors.workspace,
        with_errors.eval_id,
        labelled.project,
        labelled.version_id,
        with_errors.confidence,
        with_errors.confidence_threshold,
        with_errors.image_id,
        with_errors.image_name,
        with_errors.split,
        row_number() over (
            partition by with_errors.eval_id, with_errors.confidence
            order by with_errors.f1 asc nulls last, with_errors.false_positives desc nulls last,
                with_errors.image_id
        ) as f1_rank,
        row_number() over (
            partition by with_errors.eval_id, with_errors.confidence
            order by with_errors.false_positives desc nulls last, with_errors.f1 asc nulls last,
                with_errors.image_id
        ) as fp_rank,
        with_errors.f1,
        with_errors.precision,
        with_errors.recall,
        with_errors.true_positives,
        with_errors.false_positives,
        with_errors.false_negatives,
        with_errors.cluster_id,
        vector_clusters.f1_mean as cluster_f1_mean,
        -- added in 0.2
        with_errors.cluster_id = -1 as is_noise,
        with_errors.is_default_variant,
        coalesce(labelled.is_latest_in_project, false) as is_latest_in_project,
        coalesce(labelled.is_latest_in_version, false) as is_latest_in_version
    from with_errors
    left join labelled on labelled.eval_id = with_errors.eval_id
    -- `is not distinct from`: confidence NULL (the server's default variant) matches NULL
    left join vector_clusters
        on vector_clusters.eval_id = with_errors.eval_id
        and vector_clusters.confidence is not distinct from with_errors.confidence
        and vector_clusters.cluster_id = with_errors.cluster_id
)

select * from ranked
order by eval_id, confidence nulls first, f1_rank
