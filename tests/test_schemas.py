from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from etl import tables_doc
from etl.panels import PANELS
from etl.schemas import TABLES, TABLES_BY_PANEL, empty_batch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(TABLES))
def test_grain_and_unit_are_columns(name: str) -> None:
    table = TABLES[name]
    assert set(table.grain) <= set(table.columns)
    assert set(table.unit) <= set(table.grain) | {"panel", "params"}
    assert table.columns[:2] == ["workspace", "eval_id"] or name == "runs"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_types_are_the_contract_types(name: str) -> None:
    allowed = {pa.string(), pa.float64(), pa.int64(), pa.bool_(), pa.timestamp("ms", tz="UTC"),
               pa.list_(pa.string())}
    for field in TABLES[name].schema:
        assert field.type in allowed, f"{name}.{field.name}: {field.type}"
        assert field.metadata and field.metadata[b"doc"], f"{name}.{field.name} has no doc"


def test_every_panel_feeds_a_table() -> None:
    assert set(TABLES_BY_PANEL) == set(PANELS)


def test_empty_batch_keeps_types() -> None:
    batch = empty_batch("image_predictions")
    assert batch.num_rows == 0 and batch.schema == TABLES["image_predictions"].schema


def test_tables_doc_is_current() -> None:
    assert (ROOT / "docs" / "tables.md").read_text() == tables_doc.render(), (
        "run: python -m etl.tables_doc > docs/tables.md"
    )
