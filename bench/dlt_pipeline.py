"""The generic-framework baseline: a dlt ``rest_api`` source for the same endpoints, into DuckDB.

``python -m bench.dlt_pipeline --api-url URL --workspace WS --out DIR --mode default|tuned``
with the key in ``ROBOFLOW_API_KEY``. The list is the parent resource; every panel is a
dependent resource per eval (``{resources.evals.evalId}``), performance-by-class and
confusion-matrix once per split, image predictions through an offset paginator that stops
at ``totalImages``. The plan is evals-etl's (``etl.crawl.plan.units_for`` with the defaults).

``default`` is the configuration the rest_api docs lead to. ``tuned`` follows dlt's
performance guide: every dependent resource ``parallelized`` (each eval's fetch runs in the
extract thread pool), 32 extract workers to match evals-etl's concurrency (dlt's
``requests`` session already pools 50 connections), and Parquet load files instead of
DuckDB's default ``insert_values`` (on a tenth of the benchmark workload: load 34 s and
5.2 GB peak RSS with the default, 1.2 s and 0.4 GB with Parquet). Two normalize workers
were tried and left out: no gain on two cores, where one table holds most rows.

The compare panel belongs to a project version, not to an eval, and a ``rest_api`` dependent
resource makes one call per parent row; so it is a transformer of the listing written by
hand (:func:`compare_resource`): one ``model-evals/compare?project=P&version=V`` per
distinct project version with a done eval (``bench.workload.compare_versions``), through
dlt's ``RESTClient``, in 32 threads when tuned, one after the other by default.

Panel bodies are loaded with ``max_table_nesting=0`` (nested objects as JSON columns): with
dlt's default nesting, the confidence sweep alone (a key per threshold per class per split)
would become thousands of columns. Image rows keep one level of nesting, as dlt would.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.workload import PAGE, SPLITS, listed_compare_versions

WORKERS = 32


def resource(name: str, path: str, params: dict[str, Any] | None = None,
             **extra: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "path": f"model-evals/{{resources.evals.evalId}}{path}",
        "params": params or {}, "data_selector": "$", "paginator": "single_page"}
    endpoint.update(extra.pop("endpoint", {}))
    return {"name": name, "endpoint": endpoint, "max_table_nesting": 0, **extra}


def source_config(api_url: str, workspace: str, key: str, tuned: bool) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [
        {"name": "evals", "endpoint": {"path": "model-evals", "params": {"limit": 200},
                                       "data_selector": "evals", "paginator": "single_page"},
         "primary_key": "evalId"},
        resource("eval", ""),
        resource("map_results", "/map-results"),
        resource("confidence_sweep", "/confidence-sweep"),
        resource("recommendations", "/recommendations"),
        resource("vector_analysis", "/vector-analysis"),
    ]
    for split in SPLITS:
        resources.append(resource(f"performance_by_class_{split}", "/performance-by-class",
                                  {"split": split}))
        resources.append(resource(f"confusion_matrix_{split}", "/confusion-matrix",
                                  {"split": split}))
    resources.append(resource(
        "image_predictions", "/image-predictions", {"split": "all"}, max_table_nesting=1,
        endpoint={"data_selector": "images", "paginator": {
            "type": "offset", "limit": PAGE, "offset_param": "offset", "limit_param": "limit",
            "total_path": "totalImages"}},
        include_from_parent=["evalId"]))
    client: dict[str, Any] = {"base_url": f"{api_url}/{workspace}/",
                              "auth": {"type": "bearer", "token": key}}
    config: dict[str, Any] = {"client": client, "resources": resources}
    if tuned:
        config["resource_defaults"] = {"parallelized": True}
    return config


def compare_resource(evals: Any, api_url: str, workspace: str, key: str, tuned: bool) -> Any:
    """A transformer of the listing: one compare call per new project version it shows."""
    import dlt
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
    from dlt.sources.helpers.rest_client.client import RESTClient

    client = RESTClient(base_url=f"{api_url}/{workspace}/", auth=BearerTokenAuth(key))
    seen: set[tuple[str, str]] = set()

    def fetch(pair: tuple[str, str]) -> dict[str, Any]:
        response = client.get("model-evals/compare",
                              params={"project": pair[0], "version": pair[1]})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    @dlt.transformer(name="compare", data_from=evals, max_table_nesting=0)
    def compare(rows: Any) -> Iterator[dict[str, Any]]:
        new = [v for v in listed_compare_versions(rows if isinstance(rows, list) else [rows])
               if v not in seen]
        seen.update(new)
        if tuned and len(new) > 1:
            with ThreadPoolExecutor(min(WORKERS, len(new))) as pool:
                yield from pool.map(fetch, new)
        else:
            yield from map(fetch, new)

    return compare


def tune_environment(environ: dict[str, str]) -> None:
    """dlt reads its performance settings from the environment (or config.toml)."""
    environ["EXTRACT__WORKERS"] = str(WORKERS)
    environ["EXTRACT__MAX_PARALLEL_ITEMS"] = str(WORKERS * 2)


def run(api_url: str, workspace: str, out: Path, tuned: bool) -> None:
    if tuned:
        tune_environment(os.environ)  # type: ignore[arg-type]
    # dlt keeps its working state under the pipelines dir; keep it out of the user's home.
    os.environ.setdefault("DLT_DATA_DIR", str(out / "dlt-data"))
    import dlt
    from dlt.sources.rest_api import rest_api_source

    key = os.environ["ROBOFLOW_API_KEY"]
    source = rest_api_source(source_config(api_url, workspace, key, tuned),  # type: ignore[arg-type]
                             name="roboflow_evals")
    source.resources.add(compare_resource(source.resources["evals"], api_url, workspace, key,
                                          tuned))
    pipeline = dlt.pipeline(
        pipeline_name=f"evals_{'tuned' if tuned else 'default'}",
        pipelines_dir=str(out / "pipelines"),
        destination=dlt.destinations.duckdb(str(out / "dlt.duckdb")),
        dataset_name="roboflow")
    if tuned:
        info = pipeline.run(source, write_disposition="replace", loader_file_format="parquet")
    else:
        info = pipeline.run(source, write_disposition="replace")
    info.raise_on_failed_jobs()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dlt_pipeline", description=__doc__)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mode", choices=["default", "tuned"], default="default")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    run(args.api_url.rstrip("/"), args.workspace, args.out, args.mode == "tuned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
