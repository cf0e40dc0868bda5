-- grain: one row per eval_id, split.
-- purpose: the `split_metrics` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/split_metrics/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        split,
        task_type,
        map50,
        map50_95,
        map75,
        miou,
        precision,
        recall,
        f1
    from source
)

select * from renamed
