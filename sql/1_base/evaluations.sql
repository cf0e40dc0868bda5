-- grain: one row per eval_id.
-- purpose: the `evaluations` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/evaluations/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        status,
        project,
        version_id,
        model_id,
        model_url,
        created_at,
        task_type,
        map,
        miou,
        precision,
        recall,
        app_url,
        listed
    from source
)

select * from renamed
