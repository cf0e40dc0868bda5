"""``doctor --to`` against the real PostgreSQL the suite starts: reachable before the first
load, up to date after it."""

from __future__ import annotations

from pathlib import Path

from etl import doctor, warehouse
from tests.support.runs import export, simulator


def test_doctor_sees_the_warehouse_before_and_after_a_load(pg_uri: str, tmp_path: Path) -> None:
    before = doctor.warehouse_check(pg_uri, "doctor_probe")
    assert before.state == "ok" and "first load creates them" in before.detail
    with simulator(seed=77, evals=3, images=(5, 10)) as sim:
        export(sim, tmp_path / "out")
    warehouse.load(tmp_path / "out", pg_uri, schema="doctor_probe")
    after = doctor.warehouse_check(pg_uri, "doctor_probe")
    assert after.state == "ok" and "up to date" in after.detail, after
    assert doctor.warehouse_check(pg_uri, "Bad-Name").state == "fail"
