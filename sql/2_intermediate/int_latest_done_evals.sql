-- grain: one row per project version (workspace, project, version_id).
-- purpose: the current done evaluation of each project version: the newest listed one.
with evaluations as (
    select * from evaluations
),

done as (
    select *
    from evaluations
    where status = 'done'
        and project is not null  -- a deleted project's versions cannot be grouped
        and coalesce(listed, true)  -- an eval gone from the listing was deleted upstream
),

ranked as (
    select
        workspace,
        project,
        version_id,
        eval_id,
        created_at,
        count(*) over (partition by workspace, project, version_id) as done_evals_in_version,
        row_number() over (
            partition by workspace, project, version_id
            order by created_at desc nulls last, eval_id desc
        ) as recency
    from done
),

latest as (
    select workspace, project, version_id, eval_id, created_at, done_evals_in_version
    from ranked
    where recency = 1
)

select * from latest
