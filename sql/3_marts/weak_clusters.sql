-- grain: one row per underperforming embedding cluster (eval_id, confidence, cluster_id).
-- purpose: clusters whose mean F1 is below their evaluation's image-weighted mean F1;
--          gap = how far below. HDBSCAN's noise (-1) is no cluster: it is left out here
--          (int_clusters_compared has every cluster, noise included).
with clusters as (
    select * from int_clusters_compared
),

labelled as (
    select * from int_evals_labelled
),

weak as (
    select * from clusters
    where f1_mean < eval_f1_mean and not is_noise
),

ranked as (
    select
        weak.workspace,
        weak.eval_id,
        labelled.project,
        labelled.version_id,
        weak.confidence,
        weak.cluster_id,
        weak.is_noise,
        row_number() over (
            partition by weak.eval_id, weak.confidence
            order by weak.gap desc, weak.cluster_id
        ) as rank,
        weak.num_images,
        weak.f1_mean,
        weak.eval_f1_mean,
        weak.gap,
        weak.f1_std,
        weak.precision_mean,
        weak.recall_mean,
        weak.sample_images,
        -- added in 0.2
        weak.is_default_variant,
        coalesce(labelled.is_latest_in_project, false) as is_latest_in_project,
        coalesce(labelled.is_latest_in_version, false) as is_latest_in_version
    from weak
    left join labelled on labelled.eval_id = weak.eval_id
)

select * from ranked
order by eval_id, confidence nulls first, rank
