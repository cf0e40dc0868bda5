"""The webhook: one JSON POST per batch of findings, in a shape Slack's incoming webhooks take.

``text`` is the message (Slack shows it); ``findings`` carries the same as data for any other
receiver. Nothing secret goes in: the payload is built from the findings alone (projects,
evals, versions, values), run through the redactor like every line evals-etl prints, and the
URL itself is never printed (errors name its host only). Sent through
:func:`etl.crawl.http.post_json`, with the project's retry policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio

from etl import redact
from etl.check.evaluate import Finding
from etl.check.rules import Notify
from etl.crawl.http import post_json
from etl.crawl.retry import RetryPolicy

# A webhook is not the API: a few tries over about half a minute, then the check says so.
POLICY = RetryPolicy(max_attempts=4, retry_budget=3, backoff_base=0.5, backoff_max=8.0)


def line(f: Finding) -> str:
    return (f"{f.project}: eval {f.eval_id} (version {f.version_id}) {f.rule.metric} "
            f"{f.value:.4f} is {-f.delta:.4f} below {f.baseline_value:.4f} of eval "
            f"{f.baseline_eval_id} (version {f.baseline_version_id}); "
            f"rule: {f.rule.title}, tolerance {f.rule.tolerance:g}")


def payload(findings: Sequence[Finding], workspace: str | None) -> dict[str, Any]:
    where = f" in workspace {workspace}" if workspace else ""
    head = f"evals-etl check: {len(findings)} regression(s){where}"
    return {
        "text": redact.text("\n".join([head, *(f"- {line(f)}" for f in findings)])),
        "findings": [{k: redact.text(v) if isinstance(v, str) else v for k, v in {
            "rule": f.rule.title, "metric": f.rule.metric, "split": f.rule.split,
            "class": f.rule.class_name or "all", "tolerance": f.rule.tolerance,
            "baseline": f.rule.baseline, "workspace": f.workspace, "project": f.project,
            "eval_id": f.eval_id,
            "version_id": f.version_id, "value": f.value,
            "baseline_eval_id": f.baseline_eval_id,
            "baseline_version_id": f.baseline_version_id,
            "baseline_value": f.baseline_value, "delta": f.delta}.items()}
            for f in findings],
    }


def send(notify: Notify, findings: Sequence[Finding], workspace: str | None) -> int:
    """POST the batch; returns the attempts it took. Raises the API error that ended it."""
    assert notify.webhook_url is not None
    body = payload(findings, workspace)
    url = notify.webhook_url
    return anyio.run(lambda: post_json(url, body, POLICY, timeout=notify.timeout_seconds))
