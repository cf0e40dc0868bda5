-- grain: one row per project version (workspace, project, version_id).
-- purpose: the current done evaluation of each project version: the newest listed one.
with labelled as (
    select * from int_evals_labelled
),

latest as (
    select workspace, project, version_id, eval_id, created_at, done_evals_in_version
    from labelled
    where is_latest_in_version
)

select * from latest
