"""StagingWriter: one open file per table, schema-exact, rolling, big row groups."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.errors import PublishError
from etl.panels import PanelRequest
from etl.schemas import TABLES
from etl.store import writer as writer_module
from etl.store.writer import StagingWriter, staged_files

from .storage_scenario import T0, unit_rows


def clusters(n: int, start: int = 0) -> pa.Table:
    rows = unit_rows(PanelRequest("e1", "vector-analysis", None, 50), "r1")["vector_clusters"][0]
    return pa.Table.from_pylist([{**rows, "cluster_id": start + i} for i in range(n)],
                                schema=TABLES["vector_clusters"].schema)


def test_round_trip_keeps_rows_and_exact_schema(tmp_path: Path) -> None:
    with StagingWriter(tmp_path) as writer:
        writer.write("vector_clusters", clusters(5).to_batches()[0])
        writer.write("vector_clusters", clusters(2, start=5))
    files = sorted((tmp_path / "vector_clusters").iterdir())
    assert [f.name for f in files] == ["part-00000.parquet"]
    got = pq.read_table(files[0])
    assert got.schema.equals(TABLES["vector_clusters"].schema)
    assert got.column("cluster_id").to_pylist() == list(range(7))
    assert got.column("sample_images").to_pylist()[0] == ["img-0.jpg", "b.jpg"]
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "LZ4"


def test_many_small_batches_make_one_row_group_not_one_file_each(tmp_path: Path) -> None:
    with StagingWriter(tmp_path) as writer:
        for i in range(200):
            writer.write("vector_clusters", clusters(3, start=3 * i))
    files = list((tmp_path / "vector_clusters").iterdir())
    assert len(files) == 1
    meta = pq.ParquetFile(files[0]).metadata
    assert (meta.num_rows, meta.num_row_groups) == (600, 1)


def test_rolls_to_a_new_part_past_the_row_limit(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, rows_per_file=4) as writer:
        writer.write("vector_clusters", clusters(10))
    parts = sorted((tmp_path / "vector_clusters").iterdir())
    assert [p.name for p in parts] == ["part-00000.parquet", "part-00001.parquet",
                                       "part-00002.parquet"]
    assert [pq.read_metadata(p).num_rows for p in parts] == [4, 4, 2]
    ids = pq.read_table(parts).column("cluster_id").to_pylist()
    assert ids == list(range(10))  # part order is write order


def test_casts_compatible_types_and_reorders_columns(tmp_path: Path) -> None:
    table = TABLES["runs"].schema
    row = {"errors": 3, "run_id": "r1", "workspace": "ws", "fetched_at": T0}
    loose = pa.Table.from_pylist([row], schema=pa.schema([
        ("errors", pa.int32()), ("run_id", pa.string()), ("workspace", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC"))]))
    for name in table.names:
        if name not in loose.column_names:
            loose = loose.append_column(pa.field(name, pa.null()), pa.nulls(1))
    with StagingWriter(tmp_path) as writer:
        writer.write("runs", loose)
    got = pq.read_table(tmp_path / "runs")
    assert got.schema.equals(table)
    assert got.to_pylist()[0]["errors"] == 3


@pytest.mark.parametrize("change", ["missing", "unknown", "null_lineage", "bad_type"])
def test_rejects_batches_that_break_the_schema(tmp_path: Path, change: str) -> None:
    good = clusters(1)
    bad = {
        "missing": lambda: good.drop_columns(["f1_mean"]),
        "unknown": lambda: good.append_column("surprise", pa.array([1])),
        "null_lineage": lambda: good.set_column(1, TABLES["vector_clusters"].schema.field(1)
                                                .with_nullable(True), pa.nulls(1, pa.string())),
        "bad_type": lambda: good.set_column(
            good.schema.get_field_index("num_images"), "num_images", pa.array(["many"])),
    }[change]()
    with StagingWriter(tmp_path) as writer, pytest.raises(PublishError, match="vector_clusters"):
        writer.write("vector_clusters", bad)


def test_empty_batches_and_unwritten_tables_make_no_files(tmp_path: Path) -> None:
    with StagingWriter(tmp_path) as writer:
        writer.write("vector_clusters", clusters(0))
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


def test_write_after_close_and_unknown_table_fail(tmp_path: Path) -> None:
    writer = StagingWriter(tmp_path)
    with pytest.raises(PublishError, match="unknown table"):
        writer.write("nope", clusters(1))
    writer.close()
    writer.close()
    with pytest.raises(PublishError, match="closed"):
        writer.write("vector_clusters", clusters(1))


def test_a_big_unit_appears_whole_on_commit_and_not_at_all_on_discard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "UNIT_MEMORY_ROWS", 8)  # 15 rows: spills to disk
    with StagingWriter(tmp_path / "tables") as writer:
        kept, dropped = writer.unit(), writer.unit()
        for page in range(3):
            kept.write("vector_clusters", clusters(5, start=page * 5))
            dropped.write("vector_clusters", clusters(5, start=100 + page * 5))
        folder = tmp_path / "tables" / "vector_clusters"
        assert staged_files(folder) == []  # nothing visible before the unit ends
        kept.commit()
        dropped.discard()
    files = staged_files(folder)
    assert [p.name for p in files] == ["unit-00001.parquet"]
    assert pq.read_table(files[0]).column("cluster_id").to_pylist() == list(range(15))
    assert not list(folder.glob(".*"))  # no hidden leftovers


def test_a_small_unit_stays_in_memory_and_joins_the_part_files(tmp_path: Path) -> None:
    with StagingWriter(tmp_path / "tables") as writer:
        kept, dropped = writer.unit(), writer.unit()
        kept.write("vector_clusters", clusters(3))
        dropped.write("vector_clusters", clusters(3, start=10))
        assert not (tmp_path / "tables" / "vector_clusters").exists()
        kept.commit()
        dropped.discard()
    files = staged_files(tmp_path / "tables" / "vector_clusters")
    assert [p.name for p in files] == ["part-00000.parquet"]
    assert pq.read_table(files[0]).column("cluster_id").to_pylist() == [0, 1, 2]


def test_a_buffered_batch_counts_its_own_bytes_not_the_shared_lineage_arrays() -> None:
    """The buffer's byte count is what flushes it (and bounds the write queue): a page's
    lineage columns view one shared array per string, which must not count whole each time."""
    from datetime import UTC, datetime

    from etl.normalize import FetchContext
    from etl.normalize._common import repeated
    from etl.normalize.image_predictions import ImagePage, _Image, normalize_page

    repeated("e-held", 200_000)  # a big eval earlier in the run grew the shared array
    ctx = FetchContext("acme", "r1", datetime(2026, 1, 1, tzinfo=UTC),
                       PanelRequest("e-held", "image-predictions", "all", 50))
    page = ImagePage(images=[_Image(imageId=f"i{k}") for k in range(1000)], total_images=1000)
    batch = writer_module.conform("image_predictions",
                                  normalize_page(page, ctx, set())["image_predictions"])
    held = writer_module.held_bytes(batch)
    assert held == pytest.approx(batch.nbytes, rel=0.1)
    assert held < 200_000  # the shared eval_id array alone is 200,000 x 6 bytes


@pytest.mark.parametrize("value", ["acme", "äpfel-ws", ""])
@pytest.mark.parametrize("n", [0, 1, 4096, 9000])
def test_repeated_strings_are_exact_views(value: str, n: int) -> None:
    from etl.normalize._common import repeated

    array = repeated(value, n)
    array.validate(full=True)
    assert array.to_pylist() == [value] * n
    assert array.get_total_buffer_size() == 4 * (n + 1) + len(value.encode()) * n
