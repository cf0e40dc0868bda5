-- grain: one row per run_id.
-- purpose: the `runs` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/runs/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        run_id,
        fetched_at,
        started_at,
        finished_at,
        mode,
        status,
        evals_listed,
        evals_exported,
        requests,
        retries,
        errors,
        units_not_attempted,
        workspaces,
        workspace_outcomes
    from source
)

select * from renamed
