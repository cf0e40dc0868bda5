-- grain: one row per eval_id, confidence, image_id.
-- purpose: the `image_predictions` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/image_predictions/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        confidence,
        image_id,
        confidence_threshold,
        image_name,
        split,
        augmentations,
        cluster_id,
        embedding_x,
        embedding_y,
        true_positives,
        false_positives,
        false_negatives,
        precision,
        recall,
        f1
    from source
)

select * from renamed
