"""Image paging verdicts, as pure functions (the paging itself runs against the simulator)."""

from __future__ import annotations

from etl.crawl.pager import Verdict, implausible, judge, offsets_after, short_page


def test_the_pages_after_the_first_step_by_the_size_asked_for() -> None:
    assert list(offsets_after(1000, 3500)) == [1000, 2000, 3000]
    assert list(offsets_after(1000, 1000)) == []
    assert list(offsets_after(300, 301)) == [300]
    assert offsets_after(1000, 10**12)[-1] == 10**12 - 1000  # a range: no list is ever built


def test_a_page_is_short_when_it_ends_the_data_before_the_total() -> None:
    assert short_page(2000, 164, 2_000_000, 1000)
    assert not short_page(3000, 500, 3500, 1000)  # the last page: it may hold less
    assert not short_page(0, 1000, 2_000_000, 1000)


def test_a_total_no_first_page_can_support_is_refused_after_one_request() -> None:
    assert implausible(2_000_000, 164, 1000, 10_000_000) == (
        "the first page held 164 of the 1000 images asked for, of 2,000,000")
    assert implausible(5000, 0, 1000, 10_000_000) is not None  # an empty first page
    assert "max_images_per_unit" in (implausible(10**9, 1000, 1000, 10_000_000) or "")
    assert implausible(164, 164, 1000, 10_000_000) is None  # one short page that is all
    assert implausible(0, 0, 1000, 10_000_000) is None


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
