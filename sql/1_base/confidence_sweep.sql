-- grain: one row per eval_id, split, class_name, threshold (class_name null = the whole split).
-- purpose: the `confidence_sweep` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/confidence_sweep/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        split,
        class_name,
        threshold,
        precision,
        recall,
        f1
    from source
)

select * from renamed
