"""What an operator sees while tasks run and when they end.

On a terminal: a live line per task (one aggregate line for a fan-out) with touched of selected, items/s, WCU/s,
throttled statements and an ETA when the total is known, and why the worker waits when a progress line says it is
paused (`paused: consumer lag (indexer 312 s)`), drawn by rich; log lines other than progress scroll above
it. Elsewhere (CI, the runbook, a pipe): every log line as plain text, as before. Either way the end is a short
readable summary block.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stream_rerun.launch.logtail import LogTail

OUTCOMES = ("touched", "already_done", "vanished", "filtered_out", "failed", "unprocessed")


def _total(tails: Sequence[LogTail]) -> tuple[int | None, bool]:
    """The selected total over the tasks, when every task said it; and whether it is approximate."""
    totals = [t.started.get("selected_total") for t in tails]
    if not totals or any(v is None for v in totals):
        return None, False
    return sum(int(v) for v in totals if v is not None), any(t.started.get("selected_total_approximate") for t in tails)


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02}:{seconds % 60:02}"


# Who holds a pause and for how long, as the worker's progress line names them (consumer_lag.py's progress_fields;
# the paused_* spellings too). Any other paused_* field is shown as it is.
_WHO = ("consumer_function", "paused_consumer", "paused_function")
_AGE = ("consumer_iterator_age_s", "paused_age_s")
_SO_FAR = ("consumer_paused_s", "paused_s")


def pause_of(progress: dict[str, Any]) -> str | None:
    """`consumer lag (indexer 312 s, paused 0:01:00 so far)` from a progress line's `paused_for` and the fields that
    go with it (issue 21); None when the line does not say it is paused."""
    reason = progress.get("paused_for")
    if not reason:
        return None
    who = next((str(progress[k]) for k in _WHO if progress.get(k)), None)
    age = next((progress[k] for k in _AGE if _number(progress.get(k))), None)
    details = [" ".join(d for d in (who, f"{age:,.0f} s" if age is not None else None) if d)]
    so_far = next((progress[k] for k in _SO_FAR if _number(progress.get(k))), None)
    if so_far is not None:
        details.append(f"paused {_clock(so_far)} so far")
    known = {"paused_for", *_WHO, *_AGE, *_SO_FAR}
    for key, value in progress.items():
        if key.startswith("paused_") and key not in known and value not in (None, ""):
            name = key.removeprefix("paused_")
            seconds = key.endswith("_s") and _number(value)
            details.append(f"{name.removesuffix('_s')} {value:,.0f} s" if seconds else f"{name} {value}")
    shown = ", ".join(d for d in details if d)
    text = str(reason).replace("_", " ")
    return f"{text} ({shown})" if shown else text


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _paused(tails: Sequence[LogTail]) -> str | None:
    """`paused: consumer lag (indexer 312 s)`; for a fan-out `paused 2 of 3: ...` (each distinct reason once)."""
    pauses = [p for p in (pause_of(t.progress) for t in tails if not t.summary) if p]
    if not pauses:
        return None
    count = f" {len(pauses)} of {len(tails)}" if len(tails) > 1 else ""
    return f"paused{count}: " + "; ".join(dict.fromkeys(pauses))


def progress_line(tails: Sequence[LogTail], label: str = "") -> str:
    """`touched 1,200 of ~5,000 (24%) · 250 items/s · 480 WCU/s · throttled 3 · ETA 0:00:15`; while a worker is paused
    `... · throttled 3 · paused: consumer lag (indexer 312 s, paused 0:01:00 so far)` instead of the ETA."""
    latest = [t.summary or t.progress for t in tails]
    if not any(latest):
        return f"{label}starting" if tails and not any(t.started for t in tails) else f"{label}running, no progress yet"
    done = sum(int(p.get(k, 0)) for p in latest for k in OUTCOMES[:-1])
    touched = sum(int(p.get("touched", 0)) for p in latest)
    rate = sum(float(p.get("items_per_s", 0.0)) for p in latest)
    wcu = sum(float(p.get("wcu_per_s", 0.0)) for p in latest)
    throttled = sum(int(p.get("throttled_statements", 0)) for p in latest)
    total, approximate = _total(tails)
    parts = [f"touched {touched:,}"]
    if total:
        parts[0] += f" of {'~' if approximate else ''}{total:,} ({min(100, 100 * done // total)}%)"
    parts += [f"{rate:,.0f} items/s", f"{wcu:,.0f} WCU/s", f"throttled {throttled:,}"]
    paused = _paused(tails)
    if paused:
        parts.append(paused)
    elif total and rate > 0 and done < total:
        parts.append(f"ETA {_clock((total - done) / rate)}")
    return label + " · ".join(parts)


def summary_block(tails: Sequence[LogTail], codes: Sequence[int], env: str = "<env>") -> str:
    """The end of a run, for a person: the outcome counts, the rate, each task's exit code, and how to settle the
    rest (`env`: the environment, for the re-drive command)."""
    summaries = [t.summary for t in tails]
    reported = [s for s in summaries if s]
    counts = {k: sum(int(s.get(k, 0)) for s in reported) for k in ("selected", *OUTCOMES)}
    elapsed = max((float(s.get("elapsed_s", 0.0)) for s in reported), default=0.0)
    wcu = sum(float(s.get("consumed_wcu", 0.0)) for s in reported)
    lines = [
        f"Run {next((s['run_id'] for s in reported if s.get('run_id')), '?')}: "
        + ("done" if codes and all(c == 0 for c in codes) else "NOT done"),
        f"  selected     {counts['selected']:>12,}",
        *(f"  {k:<12} {counts[k]:>12,}" for k in OUTCOMES),
        f"  write units  {wcu:>12,.0f}   in {_clock(elapsed)}",
        f"  tasks        {len(tails)} ({len(reported)} printed a summary); exit codes {', '.join(map(str, codes))}",
    ]
    errors = sorted({str(s["error"]) for s in reported if s.get("error")})
    lines += [f"  error: {e}" for e in errors]
    if counts["failed"] or counts["unprocessed"]:
        lines += redrive_hint(reported, len(reported) == len(tails), env)
    return "\n".join(lines)


def redrive_hint(summaries: Sequence[dict[str, Any]], all_reported: bool, env: str) -> list[str]:
    """How to settle the rest: the re-drive files with the same RUN_ID when they cover the selection (every task
    wrote one and read its selection to the end), else the same selection again with the same RUN_ID."""
    run_id = next((s["run_id"] for s in summaries if s.get("run_id")), "<RUN_ID>")
    covered = all_reported and all(s.get("failed_keys_out") and s.get("selection_read_to_end") for s in summaries)
    files = [s for s in summaries if s.get("failed_keys_written")]
    if not covered or not files:
        return [f"  Rerun the same selection with the same RUN_ID={run_id} to settle the rest: nothing fires twice."]
    lines = [f"  {sum(int(s['failed_keys_written']) for s in files):,} keys to re-drive; with the same RUN_ID "
             "nothing fires twice:"]  # fmt: skip
    lines += [f"    make rerun ENV={env} KEYS_FILE={s['failed_keys_out']} RUN_ID={run_id}" for s in files]
    return lines


class View(Protocol):
    def line(self, text: str, event: str | None) -> None: ...
    def refresh(self, tails: Sequence[LogTail]) -> None: ...
    def close(self) -> None: ...


class PlainView:
    """Every log line as text (CI, the runbook, a pipe)."""

    def __init__(self, out: Callable[[str], None] = print) -> None:
        self.out = out

    def line(self, text: str, event: str | None) -> None:
        self.out(text)

    def refresh(self, tails: Sequence[LogTail]) -> None:
        return None

    def close(self) -> None:
        return None


class LiveView:
    """A live progress line (rich) under the log lines that matter; progress lines only update it."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console  # noqa: PLC0415 - the launcher's optional dependency, loaded on a terminal
        from rich.live import Live  # noqa: PLC0415

        self.console = console or Console()
        self.live = Live("", console=self.console, refresh_per_second=4, transient=True)

    def line(self, text: str, event: str | None) -> None:
        if event != "progress":
            self.console.print(text, markup=False, highlight=False)

    def refresh(self, tails: Sequence[LogTail]) -> None:
        from rich.text import Text  # noqa: PLC0415

        if not self.live.is_started:
            self.live.start()
        label = f"{len(tails)} tasks: " if len(tails) > 1 else ""
        self.live.update(Text(progress_line(tails, label)))

    def close(self) -> None:
        self.live.stop()


def view_for(out: Callable[[str], None] = print, stream: Any = None) -> View:
    """A live view on a terminal when rich is installed, else plain lines."""
    stream = stream if stream is not None else sys.stdout
    if out is print and stream.isatty():
        try:
            return LiveView()
        except ImportError:
            pass
    return PlainView(out)
