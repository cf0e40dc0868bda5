-- grain: one row per embedding cluster (eval_id, confidence, cluster_id), noise (-1) included.
-- purpose: each cluster's mean F1 beside its evaluation's image-weighted mean F1 (the gap),
--          with the noise flag and the default confidence variant.
with vector_clusters as (
    select * from vector_clusters
),

with_eval_mean as (
    select
        *,
        -- weighting cluster means by their image counts gives the mean per-image F1 (noise
        -- included: its images are the eval's images too)
        sum(f1_mean * num_images) over per_variant
            / nullif(sum(case when f1_mean is not null then num_images end) over per_variant, 0)
            as eval_f1_mean,
        -- the server's default variant (confidence NULL) when exported, else the lowest asked
        coalesce(confidence, -1) = min(coalesce(confidence, -1)) over (partition by eval_id)
            as is_default_variant
    from vector_clusters
    window per_variant as (partition by eval_id, confidence)
),

compared as (
    select
        workspace,
        eval_id,
        confidence,
        cluster_id,
        cluster_id = -1 as is_noise,  -- HDBSCAN's label for points in no cluster
        num_images,
        f1_mean,
        eval_f1_mean,
        eval_f1_mean - f1_mean as gap,
        f1_std,
        precision_mean,
        recall_mean,
        sample_images,
        is_default_variant
    from with_eval_mean
)

select * from compared
