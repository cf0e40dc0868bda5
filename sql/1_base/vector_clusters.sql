-- grain: one row per eval_id, confidence, cluster_id (cluster_id -1 = noise).
-- purpose: the `vector_clusters` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/vector_clusters/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        confidence,
        cluster_id,
        num_images,
        train_images,
        valid_images,
        test_images,
        f1_mean,
        f1_std,
        f1_min,
        f1_max,
        precision_mean,
        recall_mean,
        sample_images
    from source
)

select * from renamed
