-- grain: one row per eval_id, panel, params.
-- purpose: the `panel_status` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/panel_status/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        panel,
        params,
        state,
        http_status,
        error_code,
        message,
        attempts,
        requests
    from source
)

select * from renamed
