"""Reading ahead: the selection's pages come from a thread (Query, Scan, S3) while the engine writes the previous
ones, at most two pages ahead, so memory stays flat. After a stop, the pages read but never written are handed back
(they go to the re-drive file). The feed hands the pages out batch by batch to the threads that touch them."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

from stream_rerun.errors import RerunError, as_rerun_error
from stream_rerun.keys import Key
from stream_rerun.touch import dedupe

LEFTOVER_WAIT_S = 5.0  # after a stop, how long a page being read may take to arrive for the re-drive file


class Prefetch:
    """Iterate over pages while a thread reads the next ones (at most two ahead); stop early when `stop` is set.
    After a stop, `leftovers()` hands back the pages read but not taken, and `exhausted` tells whether the source
    was read to its end."""

    def __init__(
        self, pages: Iterator[list[Key]], stop: threading.Event, on_error: Callable[[RerunError], None]
    ) -> None:
        self.pages = pages
        self.stop = stop
        self.on_error = on_error
        self.box: queue.Queue[list[Key] | BaseException | None] = queue.Queue(maxsize=2)
        self.held: list[Key] = []  # the page the reader had in hand when the run stopped
        self.exhausted = False
        self.thread = threading.Thread(target=self._read, name="prefetch", daemon=True)

    def _put(self, item: list[Key] | BaseException | None) -> bool:
        while not self.stop.is_set():
            try:
                self.box.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for page in self.pages:
                if not self._put(page):
                    self.held = page
                    return
            self.exhausted = True
            self._put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            self._put(exc)

    def __iter__(self) -> Iterator[list[Key]]:
        self.thread.start()
        while not self.stop.is_set():
            try:
                item = self.box.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                self.on_error(as_rerun_error(item, "DynamoDB", "reading the selection"))
                return
            yield item

    def leftovers(self) -> list[list[Key]]:
        """Pages read but not taken (call after the stop); waits briefly for a read in progress."""
        if self.thread.is_alive():
            self.thread.join(timeout=LEFTOVER_WAIT_S)
        pages = [self.held] if self.held else []
        while True:
            try:
                item = self.box.get_nowait()
            except queue.Empty:
                return pages
            if isinstance(item, list) and item:
                pages.append(item)


class Feed:
    """Hands the selection out batch by batch to the threads that touch it (each takes its next batch itself): a
    batch's size is asked for each time (it follows the adaptive rate), and a page is taken from the prefetch only
    when the one in hand is used up; `taken` hears each page's size (the selected count). With `repeated`, a key a
    page names twice (a key file, a failed-batch list) is handed out once and its repeats go to `repeated`: DynamoDB
    refuses a request that names one item twice, and without a marker two requests would both apply."""

    def __init__(
        self,
        pages: Iterator[list[Key]],
        size: Callable[[], int],
        taken: Callable[[int], None],
        stop: threading.Event,
        repeated: Callable[[list[Key]], None] | None = None,
    ) -> None:
        self.pages, self.size, self.taken, self.stop, self.repeated = pages, size, taken, stop, repeated
        self.page: list[Key] = []
        self.at = 0
        self.lock = threading.Lock()

    def next(self) -> list[Key] | None:
        """The next batch; None once the selection is used up or the run stopped."""
        with self.lock:
            while self.at >= len(self.page):
                if self.stop.is_set() or (page := next(self.pages, None)) is None:
                    return None
                self.taken(len(page))
                if self.repeated is not None:
                    page, repeats = dedupe(page)
                    if repeats:
                        self.repeated(repeats)
                self.page, self.at = page, 0
            if self.stop.is_set():
                return None
            size = self.size()
            self.at += size
            return self.page[self.at - size : self.at]

    def rest(self) -> list[Key]:
        """What is left of the page in hand (after the run stopped)."""
        with self.lock:
            rest, self.page, self.at = self.page[self.at :], [], 0
            return rest
