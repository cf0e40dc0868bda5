-- grain: one row per eval_id, confidence, image_id, actual_idx, predicted_idx.
-- purpose: the `image_confusion` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/image_confusion/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        confidence,
        image_id,
        actual_idx,
        predicted_idx,
        count
    from source
)

select * from renamed
