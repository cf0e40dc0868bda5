"""Two folders of two workspaces share one PostgreSQL schema: each load replaces only its
own workspace's units, and reloading one is a no-op for the other."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from etl import schemas, warehouse
from tests.support.runs import export, simulator
from tests.warehouse.conftest import Pg, canonical_rows, views_tables, warehouse_table

pytestmark = pytest.mark.postgres


def _of(table: pa.Table, workspace: str) -> Counter[tuple[object, ...]]:
    return Counter(canonical_rows(table.filter(pc.equal(table["workspace"], workspace))))


def test_two_folders_share_a_schema_without_touching_each_other(
        pg_uri: str, pg: Pg, schema: str, tmp_path: Path) -> None:
    folders = {}
    for workspace, seed in (("acme", 83), ("beta", 84)):
        with simulator(workspace=workspace, seed=seed, evals=5, images=(5, 15)) as sim:
            folders[workspace] = tmp_path / workspace
            export(sim, folders[workspace])
    first = warehouse.load(folders["acme"], pg_uri, schema=schema)
    second = warehouse.load(folders["beta"], pg_uri, schema=schema)
    assert first.replaced > 0 and second.replaced > 0
    assert second.removed == 0  # beta's load removed none of acme's units

    want = {w: views_tables(folder) for w, folder in folders.items()}
    for name in schemas.TABLES:
        got = warehouse_table(pg, schema, name)
        for workspace in folders:
            assert _of(got, workspace) == Counter(canonical_rows(want[workspace][name])), (
                name, workspace)

    again = warehouse.load(folders["acme"], pg_uri, schema=schema)
    assert again.noop and again.removed == 0 and again.replaced == 0
    got = warehouse_table(pg, schema, "evaluations")
    assert _of(got, "beta") == Counter(canonical_rows(want["beta"]["evaluations"]))
    loads = pg.rows(f'select distinct workspace from "{schema}"._evals_etl_loads')
    assert sorted(w for (w,) in loads) == ["acme", "beta"]
