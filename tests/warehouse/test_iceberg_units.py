"""Iceberg load semantics on hand-made datasets, with the warehouse in a local folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from etl import schemas, warehouse
from etl.errors import ConfigError
from tests.support.lake import NAMESPACE, Lake, lake_checksums, published_checksums, rows
from tests.support.s3 import checksum

EVAL_TABLES = [name for name, t in schemas.TABLES.items() if "eval_id" in t.columns]
Publish = Callable[..., Path]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path, f"file://{tmp_path}/warehouse")


def eval_ids(lake: Lake, table: str) -> list[str]:
    return sorted(lake.read(table).column("eval_id").to_pylist())


def test_a_changed_eval_is_replaced_and_a_removed_one_deleted(lake: Lake, publish: Publish) -> None:
    publish(rows({"e1": ("r1", 0), "e2": ("r1", 1), "e3": ("r1", 2)}), "r1")
    out = publish.out  # type: ignore[attr-defined]
    first = warehouse.load(out, lake.uri)
    assert first.replaced == 3 * len(EVAL_TABLES) + 1 and lake.manifest()["run_id"] == "r1"

    publish(rows({"e1": ("r1", 0), "e2": ("r2", 5), "e4": ("r2", 6)}), "r2")
    second = warehouse.load(out, lake.uri)

    # e2 and e4 in every eval table, run r2 in runs; e3 deleted from every eval table.
    assert second.replaced == 2 * len(EVAL_TABLES) + 1
    assert second.removed == len(EVAL_TABLES) and second.unchanged == len(EVAL_TABLES) + 1
    assert lake_checksums(lake) == published_checksums(out)
    assert eval_ids(lake, "split_metrics") == ["e1", "e2", "e4"]
    assert eval_ids(lake, "split_metrics") == sorted(lake.read("split_metrics", "r2")
                                                     .column("eval_id").to_pylist())
    assert sorted(lake.read("split_metrics", "r1").column("eval_id").to_pylist()) == [
        "e1", "e2", "e3"]
    assert warehouse.load(out, lake.uri).noop


def with_version_rows(tables: dict[str, list[dict[str, Any]]], run: str
                      ) -> dict[str, list[dict[str, Any]]]:
    """Plus a row of no eval (eval_id '': a project version's compare panel), per workspace."""
    row = dict(tables["panel_status"][0])
    row.update({"eval_id": "", "panel": "compare", "params": "project=p&version=1", "run_id": run})
    return {**tables, "panel_status": [*tables["panel_status"], row]}


def test_workspaces_share_a_namespace_and_each_replaces_only_its_own(
        lake: Lake, tmp_path: Path) -> None:
    from tests.warehouse.conftest import Publisher

    a, b = Publisher(tmp_path / "a"), Publisher(tmp_path / "b")
    for folder in (a.out, b.out):
        folder.mkdir()
    a(with_version_rows(rows({"a1": ("ra", 0), "a2": ("ra", 1)}, workspace="alpha"), "ra"), "ra")
    b(with_version_rows(rows({"b1": ("rb", 2)}, workspace="beta"), "rb"), "rb")
    warehouse.load(a.out, lake.uri)
    warehouse.load(b.out, lake.uri)
    assert eval_ids(lake, "class_metrics") == ["a1", "a2", "b1"]
    assert warehouse.load(a.out, lake.uri).noop

    # a2 is gone from alpha's dataset, and alpha's version rows changed.
    a(with_version_rows(rows({"a1": ("ra2", 3)}, workspace="alpha"), "ra2"), "ra2")
    result = warehouse.load(a.out, lake.uri)

    assert result.removed == len(EVAL_TABLES) + 1  # a2 everywhere, and run ra from runs
    assert eval_ids(lake, "class_metrics") == ["a1", "b1"]
    versions = lake.read("panel_status").filter(pc.equal(lake.read("panel_status")["eval_id"], ""))
    assert sorted(versions.column("run_id").to_pylist()) == ["ra2", "rb"]
    assert sorted(lake.read("runs").column("run_id").to_pylist()) == ["ra2", "rb"]
    assert warehouse.load(b.out, lake.uri).noop  # beta's rows and state untouched


def test_a_column_added_to_the_contract_is_added_to_the_table_and_its_rows_reloaded(
        lake: Lake, publish: Publish) -> None:
    out = publish.out  # type: ignore[attr-defined]
    publish(rows({"e1": ("r1", 0), "e2": ("r1", 1)}), "r1")
    spec = schemas.TABLES["evaluations"]
    older = pa.schema([f for f in spec.schema if f.name != spec.columns[-1]])
    catalog = lake.catalog()
    catalog.create_namespace(NAMESPACE)
    catalog.create_table((NAMESPACE, "evaluations"), schema=older)

    result = warehouse.load(out, lake.uri)

    assert f"added columns evaluations.{spec.columns[-1]}" in result.migrated
    assert lake.table("evaluations").schema().find_field(spec.columns[-1])
    assert checksum(lake.read("evaluations")) == published_checksums(out)["evaluations"]
    assert warehouse.load(out, lake.uri).noop


def test_a_column_of_another_type_stops_the_load_naming_it(lake: Lake, publish: Publish) -> None:
    out = publish.out  # type: ignore[attr-defined]
    publish(rows({"e1": ("r1", 0)}), "r1")
    spec = schemas.TABLES["split_metrics"]
    changed = pa.schema([pa.field(f.name, pa.string()) if f.name == "map50" else f
                         for f in spec.schema])
    catalog = lake.catalog()
    catalog.create_namespace(NAMESPACE)
    catalog.create_table((NAMESPACE, "split_metrics"), schema=changed)

    with pytest.raises(ConfigError, match=r"split_metrics\.map50 is string in the catalog"):
        warehouse.load(out, lake.uri)


def test_identifier_fields_come_from_a_required_grain(lake: Lake, publish: Publish) -> None:
    publish(rows({"e1": ("r1", 0)}), "r1")
    warehouse.load(publish.out, lake.uri)  # type: ignore[attr-defined]

    assert lake.table("evaluations").schema().identifier_field_names() == {"eval_id"}
    assert lake.table("runs").schema().identifier_field_names() == {"run_id"}
    # class_name NULL means all classes: a nullable grain cannot be Iceberg identifier fields.
    metrics = lake.table("class_metrics")
    assert metrics.schema().identifier_field_names() == set()
    assert metrics.properties["evals-etl.grain"] == ",".join(schemas.TABLES["class_metrics"].grain)


def test_an_empty_dataset_still_gives_every_table_a_tagged_snapshot(
        lake: Lake, publish: Publish) -> None:
    publish(rows({}), "r0")  # nothing exported yet: no rows in any table
    result = warehouse.load(publish.out, lake.uri)  # type: ignore[attr-defined]

    assert result.replaced == 0 and lake.manifest()["run_id"] == "r0"
    for name in schemas.TABLES:  # "the state of run r0" is readable in every table: empty
        assert lake.tags(name) == {"r0": lake.table(name).metadata.current_snapshot_id}, name
        assert lake.read(name, "r0").num_rows == 0
    assert warehouse.load(publish.out, lake.uri).noop  # type: ignore[attr-defined]


def test_replacing_an_eval_rewrites_only_the_files_that_hold_it(
        lake: Lake, publish: Publish, monkeypatch: pytest.MonkeyPatch) -> None:
    from etl.warehouse import iceberg, iceberg_catalog

    # Tiny files: the published rows (sorted by eval) are cut every 4 rows.
    monkeypatch.setattr(iceberg, "BATCH_ROWS", 4)
    monkeypatch.setitem(iceberg_catalog.TABLE_PROPERTIES, "write.target-file-size-bytes", "1")
    evals = {f"e{i:02d}": ("r1", 0) for i in range(40)}
    publish(rows(evals), "r1")
    warehouse.load(publish.out, lake.uri)  # type: ignore[attr-defined]
    assert int(lake.table("split_metrics").current_snapshot().summary["total-data-files"]) == 10

    publish(rows({**evals, "e21": ("r2", 9)}), "r2")
    warehouse.load(publish.out, lake.uri)  # type: ignore[attr-defined]

    rewrite = [s.summary for s in lake.table("split_metrics").snapshots()][1]
    assert rewrite["deleted-data-files"] == "1" and rewrite["deleted-records"] == "4"
    assert checksum(lake.read("split_metrics")) == published_checksums(
        publish.out)["split_metrics"]  # type: ignore[attr-defined]
