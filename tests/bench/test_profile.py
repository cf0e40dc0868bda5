"""bench.profile: which stage a profiled function's time goes to.

One test builds a real profile in this process: functions in files laid out as evals-etl's
(``etl/normalize/``, ``etl/store/writer.py``, ``etl/store/merge.py``) decode JSON with msgspec
and write Parquet with pyarrow; the others check the rules and the caller arithmetic on
small stats of known numbers.
"""

from __future__ import annotations

import cProfile
import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from bench import profile
from bench.profile import Attribution, own_stage, summarize

WRITER = "/repo/etl/store/writer.py"
MERGE = "/repo/etl/store/merge.py"
VIEWS = "/repo/etl/views.py"
PQ_CORE = "/venv/site-packages/pyarrow/parquet/core.py"


def _module(path: Path, source: str) -> ModuleType:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(f"bench_profile_case_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("func", "stage"), [
    (("~", 0, "<method 'decode' of 'msgspec.json.Decoder' objects>"), "decode"),
    (("~", 0, "<built-in method msgspec._core.json_decode>"), "decode"),
    (("/x/etl/normalize/_decode.py", 37, "decode"), "decode"),
    (("/x/etl/normalize/image_predictions.py", 10, "normalize"), "normalize"),
    (("/x/etl/store/writer.py", 88, "write"), "staging writes"),
    (("/x/etl/store/archive.py", 88, "_flush"), "raw archive"),
    (("/x/etl/store/merge.py", 108, "run"), "publish merge"),
    (("/x/etl/views.py", 156, "_build"), "views"),
    (("/venv/site-packages/aiohttp/client.py", 500, "_request"), "HTTP and event loop"),
    (("/usr/lib/python3.11/asyncio/base_events.py", 1, "_run_once"), "HTTP and event loop"),
    (("/usr/lib/python3.11/selectors.py", 451, "select"), "HTTP and event loop"),
    (("~", 0, "<method 'recv_into' of '_socket.socket' objects>"), "HTTP and event loop"),
    (("~", 0, "<method 'poll' of 'select.epoll' objects>"), "waiting in epoll"),
    (("<frozen importlib._bootstrap>", 1, "_find_and_load"), "imports"),
    (("/venv/site-packages/pyarrow/__init__.py", 1, "<module>"), "imports"),
    (("/x/etl/crawl/engine.py", 70, "crawl"), "other"),
    # these decide nothing themselves: their callers do
    (("~", 0, "<method 'encode' of 'msgspec.json.Encoder' objects>"), None),
    (("/venv/site-packages/pyarrow/parquet/core.py", 1200, "write_table"), None),
    (("/venv/site-packages/duckdb/_seam.py", 91, "submit"), None),
    (("~", 0, "<built-in method posix.fsync>"), None),
])
def test_rules(func: tuple[str, int, str], stage: str | None) -> None:
    assert own_stage(func) == stage


def test_undecided_time_follows_its_callers() -> None:
    """A C function called from merge and views splits by the time spent in each call; a
    library function with no stage of its own passes its callers' stages on, by cumulative
    time; a caller cycle ends in "other" rather than looping."""
    fsync = ("~", 0, "<built-in method posix.fsync>")
    write_table = (PQ_CORE, 1200, "write_table")
    execute = ("~", 0, "<method 'execute' of 'duckdb.DuckDBPyConnection' objects>")
    loop_a = ("/venv/site-packages/lib/a.py", 1, "a")
    loop_b = ("/venv/site-packages/lib/b.py", 1, "b")
    stats = {
        (WRITER, 10, "write"): (1, 1, 0.5, 2.0, {}),
        (MERGE, 20, "run"): (1, 1, 1.0, 4.0, {}),
        (VIEWS, 30, "build"): (1, 1, 0.25, 1.0, {}),
        # write_table: called from the writer (cumulative 1.2 s) and the merge (0.4 s)
        write_table: (2, 2, 0.8, 1.6, {(WRITER, 10, "write"): (1, 1, 0.6, 1.2),
                                       (MERGE, 20, "run"): (1, 1, 0.2, 0.4)}),
        # fsync: 0.3 s in calls from write_table, 0.1 s in calls from the views
        fsync: (3, 3, 0.4, 0.4, {write_table: (2, 2, 0.3, 0.3),
                                 (VIEWS, 30, "build"): (1, 1, 0.1, 0.1)}),
        execute: (2, 2, 2.0, 2.0, {(MERGE, 20, "run"): (1, 1, 1.5, 1.5),
                                   (VIEWS, 30, "build"): (1, 1, 0.5, 0.5)}),
        loop_a: (1, 2, 0.2, 0.2, {loop_b: (1, 1, 0.2, 0.2)}),
        loop_b: (1, 1, 0.1, 0.3, {loop_a: (1, 1, 0.1, 0.3)}),
    }
    attribution = Attribution(stats)
    assert attribution.own_time(execute) == pytest.approx({"publish merge": 1.5, "views": 0.5})
    assert attribution.own_time(write_table) == pytest.approx(
        {"staging writes": 0.6, "publish merge": 0.2})
    # 0.3 s through write_table, which is 3/4 the writer's (1.2 of 1.6 s) and 1/4 the merge's
    assert attribution.own_time(fsync) == pytest.approx(
        {"staging writes": 0.225, "publish merge": 0.075, "views": 0.1})
    assert attribution.own_time(loop_a) == pytest.approx({"other": 0.2})

    summary = summarize(stats)
    seconds = {stage: s["s"] for stage, s in summary["stages"].items()}
    assert seconds["publish merge"] == pytest.approx(1.0 + 0.2 + 0.075 + 1.5)
    assert seconds["staging writes"] == pytest.approx(0.5 + 0.6 + 0.225)
    assert seconds["views"] == pytest.approx(0.25 + 0.1 + 0.5)
    assert seconds["other"] == pytest.approx(0.3)
    assert summary["total_s"] == pytest.approx(sum(t[2] for t in stats.values()))
    assert list(summary["stages"]) == list(profile.STAGES)


def test_a_real_profile_of_decode_and_parquet_writes(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import msgspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    normalize = _module(tmp_path / "etl" / "normalize" / "case.py", """
        import msgspec
        import pyarrow as pa

        class Row(msgspec.Struct):
            name: str
            score: float

        DECODER = msgspec.json.Decoder(list[Row])

        def normalize(body):
            rows = DECODER.decode(body)
            return pa.table({"name": [r.name for r in rows], "score": [r.score for r in rows]})
        """)
    writer = _module(tmp_path / "etl" / "store" / "writer.py", """
        import pyarrow.parquet as pq

        def stage(table, path):
            pq.write_table(table, path)
        """)
    merge = _module(tmp_path / "etl" / "store" / "merge.py", """
        import pyarrow.parquet as pq

        def publish(table, path):
            pq.write_table(table, path, compression="zstd")
        """)
    body = msgspec.json.encode([{"name": f"img-{i}", "score": i / 7} for i in range(20_000)])
    writer.stage(pa.table({"x": [1]}), tmp_path / "warm.parquet")  # imports happen here
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(3):
        table = normalize.normalize(body)
        writer.stage(table, tmp_path / f"staged-{i}.parquet")
        merge.publish(table, tmp_path / f"published-{i}.parquet")
    profiler.disable()
    path = tmp_path / "case.prof"
    profiler.dump_stats(path)
    assert pq.read_table(tmp_path / "published-2.parquet").num_rows == 20_000

    stats = profile.load(path)
    attribution = Attribution(stats)
    decoder = [f for f in stats if f[0] == "~" and "msgspec.json.Decoder" in f[2]]
    assert decoder, "the profile saw msgspec's decoder"
    parquet = [f for f in stats if "/pyarrow/parquet/" in f[0].replace("\\", "/")]
    assert parquet, "the profile saw pyarrow.parquet's writer"
    for func in parquet:  # called only from writer.py and merge.py: nothing else
        assert set(attribution.own_time(func)) <= {"staging writes", "publish merge"}, func
    summary = summarize(stats)
    stages = summary["stages"]
    assert stages["decode"]["s"] == pytest.approx(sum(stats[f][2] for f in decoder), abs=1e-3)
    assert stages["decode"]["top"][0][0] == "msgspec.json.Decoder.decode"
    for stage in ("normalize", "staging writes", "publish merge"):
        assert stages[stage]["s"] > 0, stage
    for stage in ("raw archive", "views", "waiting in epoll"):
        assert stages[stage]["s"] == 0, stage
    assert sum(s["s"] for s in stages.values()) == pytest.approx(summary["total_s"], abs=1e-3)

    assert profile.main([str(path)]) == 0
    printed = capsys.readouterr().out
    assert "| stage | s | % of busy | largest functions (s) |" in printed
    assert "| decode |" in printed and "msgspec.json.Decoder.decode" in printed
