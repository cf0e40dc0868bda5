-- grain: one row per recommendation item (eval_id, item_index).
-- purpose: the app's recommendations with their evaluation, and each item's JSON typed as
--          JSON (jsonb in PostgreSQL), so its fields can be read with the JSON operators.
with recommendations as (
    select * from recommendations
),

summary as (
    select * from recommendation_summary
),

labelled as (
    select * from int_evals_labelled
),

joined as (
    select
        recommendations.workspace,
        recommendations.eval_id,
        labelled.project,
        labelled.version_id,
        recommendations.item_index,
        recommendations.type,
        cast(recommendations.details as json) as details,
        summary.generated_at,
        summary.confidence_threshold,
        summary.split,
        coalesce(labelled.is_latest_in_project, false) as is_latest_in_project,
        coalesce(labelled.is_latest_in_version, false) as is_latest_in_version
    from recommendations
    left join summary on summary.eval_id = recommendations.eval_id
    left join labelled on labelled.eval_id = recommendations.eval_id
)

select * from joined
order by eval_id, item_index
