-- grain: one row per eval_id.
-- purpose: the `recommendation_summary` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/recommendation_summary/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        generated,
        generated_at,
        confidence_threshold,
        confidence_pct,
        split,
        item_count,
        f1,
        precision,
        recall
    from source
)

select * from renamed
