-- grain: one row per eval_id, split, confidence, actual_class, predicted_class.
-- purpose: the `confusion_matrix` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/confusion_matrix/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        split,
        confidence,
        actual_class,
        predicted_class,
        confidence_threshold,
        actual_idx,
        predicted_idx,
        count
    from source
)

select * from renamed
