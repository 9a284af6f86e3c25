"""What an operator sees: the live line (rich, on a terminal), plain lines elsewhere, the summary block."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from stream_rerun.launch.logtail import LogTail
from stream_rerun.launch.progress import LiveView, PlainView, progress_line, summary_block, view_for


def tail(started: dict[str, Any] | None = None, progress: dict[str, Any] | None = None) -> LogTail:
    t = LogTail(stream="s")
    t.started, t.progress = started or {}, progress or {}
    return t


def test_progress_line_with_a_known_total_has_a_share_and_an_eta() -> None:
    one = tail({"selected_total": 5000}, {"touched": 1000, "already_done": 200, "items_per_s": 200.0,
                                          "wcu_per_s": 410.0, "throttled_statements": 3})  # fmt: skip
    assert progress_line([one]) == "touched 1,000 of 5,000 (24%) · 200 items/s · 410 WCU/s · throttled 3 · ETA 0:00:19"


def test_fan_out_shows_one_aggregate_line_and_marks_an_approximate_total() -> None:
    approx = {"selected_total_approximate": True}
    tasks = [tail({"selected_total": 600, **approx}, {"touched": 100, "items_per_s": 50.0}),
             tail({"selected_total": 400, **approx}, {"touched": 300, "items_per_s": 50.0})]  # fmt: skip
    line = progress_line(tasks, "2 tasks: ")
    assert line.startswith("2 tasks: touched 400 of ~1,000 (40%) · 100 items/s") and line.endswith("ETA 0:00:06")


def test_unknown_total_has_no_eta() -> None:
    line = progress_line([tail({"selected_total": None}, {"touched": 10, "items_per_s": 5.0})])
    assert line.startswith("touched 10 · 5 items/s") and "ETA" not in line and " of " not in line


def test_summary_block_reads_as_text() -> None:
    done = tail()
    done.summary = {"run_id": "r-1", "selected": 10, "touched": 9, "vanished": 1, "consumed_wcu": 9.0, "elapsed_s": 61}
    block = summary_block([done], [0])
    assert block.splitlines()[0] == "Run r-1: done"
    assert "  touched                 9" in block and "in 0:01:01" in block and "{" not in block


def ended(index: int, written: int, read_to_end: bool = True) -> LogTail:
    t = tail()
    t.summary = {"run_id": "r-2", "selected": 10, "touched": 10 - written, "unprocessed": written,
                 "failed_keys_out": f"s3://b/redrive/r-2.worker-{index}-of-2.jsonl", "failed_keys_written": written,
                 "selection_read_to_end": read_to_end}  # fmt: skip
    return t


def test_summary_block_prints_the_redrive_command_of_each_file_with_keys() -> None:
    block = summary_block([ended(1, 3), ended(2, 0)], [143, 143], "prod")
    assert "3 keys to re-drive" in block
    assert "    make rerun ENV=prod KEYS_FILE=s3://b/redrive/r-2.worker-1-of-2.jsonl RUN_ID=r-2" in block
    assert "worker-2-of-2" not in block


def test_summary_block_asks_for_the_same_selection_when_the_files_do_not_cover_it() -> None:
    not_read = summary_block([ended(1, 3, read_to_end=False)], [143], "prod")
    missing = summary_block([ended(1, 3), tail()], [143, 137], "prod")  # one task printed no summary
    for block in (not_read, missing):
        assert "Rerun the same selection with the same RUN_ID=r-2" in block and "KEYS_FILE=" not in block


def test_live_view_draws_the_line_and_lets_other_lines_scroll() -> None:
    screen = io.StringIO()
    view = LiveView(Console(file=screen, force_terminal=True, width=120))
    view.line("10:00:00 INFO run started selection=...", "run_started")
    view.line("10:00:05 INFO progress touched=5", "progress")  # shown in the live line, not printed
    view.refresh([tail({"selected_total": 10}, {"touched": 5, "items_per_s": 1.0})])
    view.close()
    text = screen.getvalue()
    assert "run started" in text and "touched 5 of 10 (50%)" in text and "progress touched=5" not in text


def test_plain_lines_when_not_a_terminal() -> None:
    printed: list[str] = []
    assert isinstance(view_for(printed.append, io.StringIO()), PlainView)
    view = view_for(stream=io.StringIO())
    assert isinstance(view, PlainView)


PAUSED = {"touched": 1000, "items_per_s": 0.0, "paused_for": "consumer_lag", "consumer_function": "indexer",
          "consumer_iterator_age_s": 312.4, "consumer_paused_s": 61.0}  # fmt: skip


def test_a_paused_worker_says_why_in_the_live_line_instead_of_an_eta() -> None:
    line = progress_line([tail({"selected_total": 5000}, {**PAUSED, "items_per_s": 50.0})])
    assert line.endswith("throttled 0 · paused: consumer lag (indexer 312 s, paused 0:01:01 so far)")
    assert "ETA" not in line


def test_other_spellings_of_the_pause_fields_still_show() -> None:
    line = progress_line([tail({}, {"touched": 5, "paused_for": "consumer_lag", "paused_consumer": "fn",
                                    "paused_age_s": 312, "paused_shard": "shard-1"})])  # fmt: skip
    assert line.endswith("paused: consumer lag (fn 312 s, shard shard-1)")
    assert "paused" not in progress_line([tail({}, {"touched": 5, "paused_for": None})])


def test_a_fan_out_counts_the_paused_workers_and_a_finished_one_is_not_paused() -> None:
    done = tail({}, PAUSED)
    done.summary = {"touched": 10}
    line = progress_line([tail({}, PAUSED), tail({}, {"touched": 3}), done], "3 tasks: ")
    assert line.endswith("paused 1 of 3: consumer lag (indexer 312 s, paused 0:01:01 so far)")


def test_live_view_shows_the_pause() -> None:
    screen = io.StringIO()
    view = LiveView(Console(file=screen, force_terminal=True, width=160))
    view.refresh([tail({"selected_total": 10}, {**PAUSED, "touched": 5})])
    view.close()
    assert "paused: consumer lag (indexer 312 s" in screen.getvalue()
