-- grain: one row per workspace, project, version_id, model_id, frontier_metric.
-- purpose: the `model_comparison` table as published; only this layer reads files.
with source as (
    select * from read_parquet('${tables}/model_comparison/data.parquet', hive_partitioning = false)
),

renamed as (
    select
        workspace,
        eval_id,
        run_id,
        fetched_at,
        project,
        version_id,
        model_id,
        frontier_metric,
        map50,
        map50_95,
        map75,
        miou,
        precision,
        recall,
        f1,
        metrics,
        available_metrics,
        median_latency_ms,
        on_frontier,
        exclusion_reason
    from source
)

select * from renamed
