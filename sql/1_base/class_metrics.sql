-- grain: one row per eval_id, split, class_name.
-- purpose: the `class_metrics` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/class_metrics/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        split,
        class_name,
        task_type,
        class_id,
        map50,
        map50_95,
        map75,
        iou,
        precision,
        recall,
        f1,
        optimal_threshold
    from source
)

select * from renamed
