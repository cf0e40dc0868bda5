"""The raw response archive: byte-exact round trip, bounded row groups."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from etl.errors import PublishError
from etl.store import archive
from etl.store.archive import ArchivedResponse, ArchiveWriter, read_archive

AT = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)


def response(i: int, body: bytes = b'{"ok": true}') -> ArchivedResponse:
    return ArchivedResponse(
        eval_id=f"e{i}", panel="image-predictions", split="all" if i % 2 else None,
        confidence=50 if i % 2 else None, query=f"limit=1000&offset={i * 1000}&split=all",
        fetched_at=AT, body=body)


def test_round_trip_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "staging" / "archive"
    sent = [response(0), response(1, body=bytes(range(256)) + "ünïcode".encode()),
            response(2, body=b"")]
    with ArchiveWriter(path) as writer:
        for item in sent:
            writer.append(item)
    got = list(read_archive(path))
    assert got == sent
    assert got[0].fetched_at.utcoffset() is not None  # tz-aware, to the microsecond


def test_flushes_row_groups_by_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "ROW_GROUP_BYTES", 1000)
    path = tmp_path / "archive"
    with ArchiveWriter(path) as writer:
        for i in range(10):
            writer.append(response(i, body=b"x" * 400))
    meta = pq.read_metadata(path / "part-00000.parquet")
    assert (meta.num_rows, meta.num_row_groups) == (10, 4)  # 3 + 3 + 3 + 1
    assert [r.eval_id for r in read_archive(path)] == [f"e{i}" for i in range(10)]
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_an_archive_without_responses_is_readable(tmp_path: Path) -> None:
    path = tmp_path / "archive"
    ArchiveWriter(path).close()
    assert list(read_archive(path)) == []


def test_append_after_close_fails(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path / "archive")
    writer.close()
    writer.close()
    with pytest.raises(PublishError, match="closed"):
        writer.append(response(0))


def test_a_checkpoint_closes_the_part_whole_and_the_next_append_opens_another(
        tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path / "archive", first_part=3)
    writer.append(response(0))
    (closed,) = writer.checkpoint()
    assert closed.name == "part-00003.parquet" and pq.read_metadata(closed).num_rows == 1
    assert writer.checkpoint() == []  # nothing new
    writer.append(response(1))
    writer.close()
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == [
        "part-00003.parquet", "part-00004.parquet"]
    assert [r.eval_id for r in read_archive(tmp_path / "archive")] == ["e0", "e1"]


def test_an_archive_of_one_file_from_before_parts_still_reads(tmp_path: Path) -> None:
    with ArchiveWriter(tmp_path / "archive") as writer:
        writer.append(response(7))
    legacy = tmp_path / "archive.parquet"
    (tmp_path / "archive" / "part-00000.parquet").rename(legacy)
    assert [r.eval_id for r in read_archive(legacy)] == ["e7"]
