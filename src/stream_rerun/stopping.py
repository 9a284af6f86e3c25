"""Stopping in time: SIGTERM (ECS StopTask, then SIGKILL after stopTimeout) and SIGINT, handled from the worker's
start. During preflight a signal ends it at once; during the run it stops new work and the summary still prints."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stream_rerun.engine import Engine

log = logging.getLogger("stream_rerun")


class Interrupted(BaseException):  # a BaseException: no `except Exception` on the way (botocore's) eats it
    """A signal arrived during preflight."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Signals:
    """SIGTERM (ECS StopTask) and SIGINT, handled from the start. During preflight a signal ends it at once (the
    handler raises into whatever preflight waits on: nothing is written yet); during the run it stops new work,
    in-flight batches finish, the summary still prints. Main thread only."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.engine: Engine | None = None
        self._preflight = False

    def _handle(self, signum: int, _frame: object) -> None:
        log.warning("signal received: finishing in-flight writes", extra={"event": "interrupt", "signal": signum})
        self.signum = self.signum or signum
        if self.engine is not None:
            self.engine.interrupt(signum)
        elif self._preflight:
            self._preflight = False  # once: a second signal must not interrupt the summary
            raise Interrupted(signum)

    @contextlib.contextmanager
    def preflight(self) -> Iterator[None]:
        self._preflight = True
        try:
            yield
        finally:
            self._preflight = False

    def attach(self, engine: Engine) -> None:
        """From now on a signal stops the engine (one that came between preflight and now does so at once)."""
        self.engine = engine
        if self.signum is not None:
            engine.interrupt(self.signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
