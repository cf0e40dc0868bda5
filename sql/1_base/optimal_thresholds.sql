-- grain: one row per eval_id, split, class_name (class_name null = the whole split).
-- purpose: the `optimal_thresholds` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/optimal_thresholds/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        split,
        class_name,
        optimal_threshold,
        precision,
        recall,
        f1
    from source
)

select * from renamed
