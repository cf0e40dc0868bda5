-- grain: one row per eval_id, confidence.
-- purpose: the `vector_analysis` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/vector_analysis/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        confidence,
        clustering_method,
        n_clusters,
        noise_ratio,
        silhouette_score,
        clustering_parameters,
        processing_time_seconds,
        preprocessing_method,
        original_dimensions,
        target_dimensions,
        n_neighbors,
        min_distance
    from source
)

select * from renamed
