"""Drive the official ``roboflow`` SDK against a simulator; run in a subprocess.

``python sdk_probe.py PLAN.json OUT.json``. The SDK reads ``API_URL`` when it is imported, so
the caller sets it (and ``ROBOFLOW_API_KEY``) in this process's environment; the key never
travels on a command line. PLAN names the evals to use; OUT receives, per call, either
``{"ok": result}`` or ``{"error": exception class name, "message": text}``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any


def main(plan_path: str, out_path: str) -> None:
    from roboflow import Roboflow  # type: ignore[import-untyped]
    from roboflow.adapters import rfapi  # type: ignore[import-untyped]

    with open(plan_path) as f:
        plan = json.load(f)
    key = os.environ["ROBOFLOW_API_KEY"]
    results: dict[str, Any] = {}

    def record(name: str, call: Callable[[], Any]) -> None:
        try:
            results[name] = {"ok": call()}
        except Exception as exc:  # noqa: BLE001 - the class name is what we compare
            results[name] = {"error": type(exc).__name__, "message": str(exc)}

    rf = Roboflow(api_key=key)  # validates the key with POST /?api_key=
    results["current_workspace"] = rf.current_workspace
    ws = rf.workspace()
    results["workspace"] = {"url": ws.url, "project_list": ws.project_list}
    record("evals", lambda: [e.to_dict() for e in ws.evals(limit=200)])
    record("evals_filtered", lambda: [e.to_dict() for e in ws.evals(
        project=plan["project"], status="done", limit=200)])
    done = ws.eval(plan["done"])
    results["eval"] = done.to_dict()
    record("map-results", done.map_results)
    record("confidence-sweep", done.confidence_sweep)
    record("performance-by-class", lambda: done.performance_by_class(split="valid"))
    record("confusion-matrix", lambda: done.confusion_matrix(split="train", confidence=50))
    record("vector-analysis", lambda: done.vector_analysis(confidence=50))
    record("image-predictions", lambda: done.image_predictions(
        split="test", confidence=50, limit=5, offset=2))
    record("recommendations", done.recommendations)
    record("defaults:performance-by-class", done.performance_by_class)
    record("defaults:confusion-matrix", done.confusion_matrix)
    record("defaults:image-predictions", done.image_predictions)
    record("compare", lambda: rfapi.compare_model_evals(
        key, ws.url, project=plan["project"], version=plan["version"]))
    record("compare:f1", lambda: ws.compare_model_evaluations(
        plan["project"], int(plan["version"]), frontier_metric="f1"))
    record("error:compare_project", lambda: rfapi.compare_model_evals(
        key, ws.url, project="no-such-project", version=1))

    running = ws.eval(plan["running"])
    record("error:not_found", lambda: ws.eval("doesNotExist"))
    record("error:not_done", running.map_results)
    record("error:invalid_split", lambda: done.performance_by_class(split="all"))
    record("error:invalid_confidence", lambda: done.confusion_matrix(confidence=101))
    record("error:report_not_found", lambda: done.confusion_matrix(confidence=plan["unmade"]))
    record("error:bad_key", lambda: rfapi.list_model_evals("not-the-key", ws.url))
    record("error:other_workspace", lambda: rfapi.list_model_evals(key, "other"))
    record("error:filters", lambda: rfapi.list_model_evals(
        key, ws.url, project=plan["project"], version=plan["version"]))

    with open(out_path, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
