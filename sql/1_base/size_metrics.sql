-- grain: one row per eval_id, split, class_name, object_size (class_name null = all classes).
-- purpose: the `size_metrics` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/size_metrics/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        split,
        class_name,
        object_size,
        map50,
        map50_95,
        map75
    from source
)

select * from renamed
