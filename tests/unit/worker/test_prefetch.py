"""Reading ahead, handing back what was read but not written when the run stops (for the re-drive file), and the
feed's search for repeated keys in the pages that may hold them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from stream_rerun import prefetch
from stream_rerun.engine import Engine
from stream_rerun.errors import RerunError
from stream_rerun.prefetch import Prefetch
from stream_rerun.touch import BatchResult, Outcome, Pending, dedupe


def pages(n: int) -> Iterator[list[dict[str, dict[str, str]]]]:
    for i in range(n):
        yield [{"pk": {"S": f"{i}"}}]


def test_a_stop_hands_back_every_page_read_but_not_taken() -> None:
    # GIVEN three pages, of which the consumer takes one and then stops
    stop = threading.Event()
    ahead = Prefetch(pages(3), stop, lambda _e: None)
    taken = next(iter(ahead))
    while ahead.box.qsize() < 2 and not ahead.exhausted:  # the reader fills its two places
        threading.Event().wait(0.01)
    stop.set()
    # THEN the other two come back, and the source was read to its end
    assert taken == [{"pk": {"S": "0"}}]
    assert ahead.leftovers() == [[{"pk": {"S": "1"}}], [{"pk": {"S": "2"}}]]
    assert ahead.exhausted


def test_a_source_cut_short_is_not_exhausted_and_its_error_is_reported() -> None:
    errors: list[RerunError] = []

    def failing() -> Iterator[list[dict[str, dict[str, str]]]]:
        yield [{"pk": {"S": "a"}}]
        raise RerunError("the export is incomplete")

    ahead = Prefetch(failing(), threading.Event(), errors.append)
    assert list(ahead) == [[{"pk": {"S": "a"}}]]
    assert [str(e) for e in errors] == ["the export is incomplete"] and not ahead.exhausted


class Recorder:
    """A toucher that touches every item it is sent and records the requests (the engine's only use of it here)."""

    key_names = ("pk",)
    marker = "rerun_id"
    table_name = "t"

    def __init__(self) -> None:
        self.requests: list[list[str]] = []

    def send(self, batch: list[Pending]) -> BatchResult:
        self.requests.append([p.key["pk"]["S"] for p in batch])
        return BatchResult(settled=[(p.key, Outcome.TOUCHED, "") for p in batch])


@pytest.mark.parametrize("distinct", [False, True])
def test_only_pages_that_may_repeat_a_key_are_searched_for_repeats(monkeypatch: Any, distinct: bool) -> None:
    # GIVEN pages with a repeated key, and a count of the searches for repeats
    searched: list[int] = []
    monkeypatch.setattr(prefetch, "dedupe", lambda page: searched.append(len(page)) or dedupe(page))
    toucher = Recorder()
    engine = Engine(toucher, 2)  # type: ignore[arg-type]
    # WHEN the source says whether its pages can repeat a key (a Query or Scan page cannot)
    counters = engine.run(iter([[{"pk": {"S": "a"}}, {"pk": {"S": "a"}}], [{"pk": {"S": "b"}}]]), distinct=distinct)
    # THEN a page that may repeat one is searched, once per page, and its repeat is already done without a request;
    # a distinct page is sent as it is
    assert searched == ([] if distinct else [2, 1])
    sent = sorted(k for request in toucher.requests for k in request)
    assert sent == (["a", "a", "b"] if distinct else ["a", "b"])
    assert (counters.touched, counters.already_done) == ((3, 0) if distinct else (2, 1))
