"""Image paging verdicts, as pure functions (the paging itself runs against the simulator)."""

from __future__ import annotations

from etl.crawl.pager import Verdict, judge, offsets_after


def test_the_pages_after_the_first_step_by_its_size() -> None:
    assert list(offsets_after(1000, 3500)) == [1000, 2000, 3000]
    assert list(offsets_after(1000, 1000)) == []
    assert list(offsets_after(300, 301)) == [300]


def test_an_empty_first_page_asks_for_nothing_more() -> None:
    assert list(offsets_after(0, 5000)) == []


def test_pages_that_agree_and_cover_the_total_are_complete() -> None:
    assert judge({3500}, 3500) == Verdict("complete")
    assert judge([3500, 3500, 3500, 3500], 3500).complete


def test_a_repeated_id_is_no_shortfall_when_the_pages_held_the_total() -> None:
    assert judge({10}, 11).complete  # 11 images held, one id seen twice


def test_pages_that_disagree_on_the_total_mean_the_eval_changed() -> None:
    verdict = judge({3500, 3600}, 3600)
    assert verdict.kind == "changed" and "3500, 3600" in verdict.problem
    assert not verdict.complete


def test_pages_holding_less_than_promised_are_short() -> None:
    verdict = judge({3500}, 3400)
    assert verdict == Verdict("short", "promised 3500 images, the pages held 3400")


def test_an_empty_unit_is_complete() -> None:
    assert judge({0}, 0).complete
    assert judge(set(), 0).complete
