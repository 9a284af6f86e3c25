"""Reading ahead, and handing back what was read but not written when the run stops (for the re-drive file)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from stream_rerun.errors import RerunError
from stream_rerun.prefetch import Prefetch


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
