-- grain: one row per eval_id, item_index.
-- purpose: the `recommendations` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/recommendations/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        item_index,
        type,
        details
    from source
)

select * from renamed
