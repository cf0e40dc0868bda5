"""``evals-etl query``: row limits and the note on what was left out, values as computed,
NaN and infinities spelled out in every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl import tabular, views
from etl.cli import main
from etl.cli.dataset import TERMINAL_ROWS, row_limit


@pytest.fixture
def db(tmp_path: Path) -> Path:
    import duckdb

    path = tmp_path / "q.duckdb"
    duckdb.connect(str(path)).close()
    return path


SPECIALS = ("select 'nan'::double as a, 'inf'::double as b, '-inf'::double as c, "
            "round(2 / 3, 3) as d, 0.1::double + 0.2::double as e, 1e300 * 10 as f")


def test_values_are_printed_as_computed(db: Path) -> None:
    table = views.query(db, SPECIALS).splitlines()
    assert table[2].split() == ["NaN", "Infinity", "-Infinity", "0.667", "0.30000000000000004",
                                "1e+301"]
    assert views.query(db, SPECIALS, "csv").splitlines()[1] == (
        "NaN,Infinity,-Infinity,0.667,0.30000000000000004,1e+301")
    assert json.loads(views.query(db, SPECIALS, "json")) == {
        "a": "NaN", "b": "Infinity", "c": "-Infinity", "d": 0.667, "e": 0.30000000000000004,
        "f": 1e301}


def test_specials_inside_lists_and_decimals() -> None:
    assert tabular.plain([float("nan"), 1.5, None]) == ["NaN", 1.5, None]
    assert tabular.text(2.0) == "2.0" and tabular.text(None) == "NULL"


def test_max_rows_counts_what_was_left_out(db: Path) -> None:
    answer = views.run_query(db, "select * from range(100005) t(n)", "csv", max_rows=3)
    assert (answer.shown, answer.total, answer.left_out) == (3, 100005, 100002)
    assert answer.text == "n\n0\n1\n2"
    whole = views.run_query(db, "select * from range(7) t(n)", "json")
    assert (whole.shown, whole.left_out) == (7, 0)


@pytest.mark.parametrize(("fmt", "max_rows", "terminal", "limit"), [
    ("table", None, True, TERMINAL_ROWS),  # a screenful on a terminal
    ("table", None, False, None),  # piped: everything
    ("csv", None, True, None),  # csv and json: everything unless asked
    ("json", None, True, None),
    ("json", 5, False, 5),
    ("table", 0, True, None),  # 0 = all
])
def test_row_limit(fmt: str, max_rows: int | None, terminal: bool, limit: int | None) -> None:
    assert row_limit(fmt, max_rows, terminal) == limit


def test_the_command_notes_a_cut_on_stderr(db: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"  # what is published there does not matter: the database is given
    out.mkdir()
    monkeypatch.setattr("etl.cli.dataset.readable_database", lambda o, stack: db)
    sql = "select * from range(50) t(n)"

    assert main(["query", "--out", str(out), "--format", "csv", "--max-rows", "10", sql]) == 0
    got = capsys.readouterr()
    assert got.out.splitlines()[1:] == [str(n) for n in range(10)]
    assert "10 of 50 rows shown, 40 left out" in got.err

    assert main(["query", "--out", str(out), "--format", "json", sql]) == 0
    got = capsys.readouterr()
    assert len(got.out.splitlines()) == 50 and got.err == ""

    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert main(["query", "--out", str(out), sql]) == 0
    got = capsys.readouterr()
    assert got.out.splitlines()[-1] == f"({TERMINAL_ROWS} of 50 rows shown)"
    assert f"{50 - TERMINAL_ROWS} left out" in got.err


def test_a_negative_row_count_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["query", "--out", ".", "--max-rows", "-1", "select 1"])
    assert exit_.value.code == 2 and "0 (all) or more" in capsys.readouterr().err
