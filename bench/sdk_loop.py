"""The baseline most users would write first: a loop over the official ``roboflow`` SDK.

``python -m bench.sdk_loop --workspace WS --out DIR`` with ``API_URL`` (the SDK's base URL)
and ``ROBOFLOW_API_KEY`` in the environment. It lists the evals (one call, the API's cap of
200), then, eval after eval and call after call as the SDK's docs show, fetches the panels
of evals-etl's default plan through :class:`roboflow.core.model_eval.ModelEval`, pages
through image predictions (``split=all``, 1,000 a page) until ``totalImages``, and writes
what it got as one JSON file per eval. Then, as evals-etl's compare panel does, it calls
``rfapi.compare_model_evals`` once per project version with a done eval (the rule of
``bench.workload.compare_versions``) and writes those answers to ``compare.json``. The SDK
opens a new connection per call and does not retry, so this loop only makes sense without
injected faults.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.workload import LIST_CAP, PAGE, SPLITS, listed_compare_versions


def fetch_eval(ev: Any) -> dict[str, Any]:
    """Every panel of one eval, in the order of ``etl.crawl.plan.units_for``."""
    doc: dict[str, Any] = {"eval": ev.refresh().to_dict()}
    if ev.status != "done":  # a running or failed eval has no panels (409)
        return doc
    doc["map_results"] = ev.map_results()
    doc["confidence_sweep"] = ev.confidence_sweep()
    doc["recommendations"] = ev.recommendations()
    doc["performance_by_class"] = {s: ev.performance_by_class(split=s) for s in SPLITS}
    doc["confusion_matrix"] = {s: ev.confusion_matrix(split=s) for s in SPLITS}
    doc["vector_analysis"] = ev.vector_analysis()
    pages = []
    offset = 0
    while True:
        page = ev.image_predictions(split="all", limit=PAGE, offset=offset)
        pages.append(page)
        offset += PAGE
        if offset >= page["totalImages"]:
            break
    doc["image_predictions"] = pages
    return doc


def run(workspace: str, out: Path) -> int:
    # The SDK reads API_URL when it is imported.
    from roboflow.adapters import rfapi
    from roboflow.core.model_eval import ModelEval

    key = os.environ["ROBOFLOW_API_KEY"]
    listed = rfapi.list_model_evals(key, workspace, limit=LIST_CAP)["evals"]
    out.mkdir(parents=True, exist_ok=True)
    for row in listed:
        ev = ModelEval(key, workspace, row["evalId"], info=row)
        doc = fetch_eval(ev)
        with (out / f"{ev.id}.json").open("w", encoding="utf-8") as fh:
            json.dump(doc, fh)
    compared = [{"project": project, "version": version,
                 "body": rfapi.compare_model_evals(key, workspace, project=project,
                                                   version=version)}
                for project, version in listed_compare_versions(listed)]
    with (out / "compare.json").open("w", encoding="utf-8") as fh:
        json.dump(compared, fh)
    return len(listed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sdk_loop", description=__doc__)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if "API_URL" not in os.environ:
        parser.error("set API_URL to the API's base URL (the simulator's URL)")
    run(args.workspace, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
