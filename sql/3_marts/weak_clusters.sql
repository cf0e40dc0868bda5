-- grain: one row per underperforming embedding cluster (eval_id, confidence, cluster_id).
-- purpose: clusters whose mean F1 is below their evaluation's image-weighted mean F1;
--          gap = how far below.
with vector_clusters as (
    select * from vector_clusters
),

evaluations as (
    select * from evaluations
),

with_eval_mean as (
    select
        *,
        -- weighting cluster means by their image counts gives the mean per-image F1
        sum(f1_mean * num_images) over per_eval
            / nullif(sum(num_images) filter (where f1_mean is not null) over per_eval, 0)
            as eval_f1_mean
    from vector_clusters
    window per_eval as (partition by eval_id, confidence)
),

weak as (
    select
        with_eval_mean.workspace,
        with_eval_mean.eval_id,
        evaluations.project,
        evaluations.version_id,
        with_eval_mean.confidence,
        with_eval_mean.cluster_id,
        with_eval_mean.cluster_id = -1 as is_noise,
        row_number() over (
            partition by with_eval_mean.eval_id, with_eval_mean.confidence
            order by with_eval_mean.eval_f1_mean - with_eval_mean.f1_mean desc,
                with_eval_mean.cluster_id
        ) as rank,
        with_eval_mean.num_images,
        with_eval_mean.f1_mean,
        with_eval_mean.eval_f1_mean,
        with_eval_mean.eval_f1_mean - with_eval_mean.f1_mean as gap,
        with_eval_mean.f1_std,
        with_eval_mean.precision_mean,
        with_eval_mean.recall_mean,
        with_eval_mean.sample_images
    from with_eval_mean
    left join evaluations on evaluations.eval_id = with_eval_mean.eval_id
    where with_eval_mean.f1_mean < with_eval_mean.eval_f1_mean
)

select * from weak
order by eval_id, confidence nulls first, rank
