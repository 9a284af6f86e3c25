"""Reliability drills: throttling, kills, stops, concurrent writers, unreachable endpoints. Each reads the stream."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stream_rerun.retry import RetryPolicy
from stream_rerun_dev import emulator
from tests.support.env import worker_process_env
from tests.support.faults import Throttle
from tests.support.items import item
from tests.support.streams import fired_by, wait_for_touches


def drill(name: str, items: int, fires: Counter[tuple[str, ...]], **more: Any) -> None:
    """One row of the drill table (shown with pytest -s): items, fired, doubled, missing."""
    doubled = sum(1 for n in fires.values() if n > 1)
    print(f"\nDRILL {name}: items={items} fired={sum(fires.values())} distinct={len(fires)} doubled={doubled} "
          + " ".join(f"{k}={v}" for k, v in more.items()))  # fmt: skip


def loaded(ddb: Any, make_table: Any, n: int, part: str = "p1") -> tuple[str, list[tuple[str, str]]]:
    table = make_table()
    emulator.put_items(ddb, table, [item(part, f"{i:05}", revision=1) for i in range(n)])
    return table, [(part, f"{i:05}") for i in range(n)]


def test_twenty_percent_throttling_still_touches_every_item_once(
    ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    table, keys = loaded(ddb, make_table, 300)  # 300: the suite's slowest drill (the rate climbs back slowly)
    client = emulator.ddb(ddb.meta.endpoint_url)
    throttle = Throttle(client, request_share=0.2, statement_share=0.2)
    result = worker(table, client=client, HASH_KEY_VALUE="p1", RUN_ID="thr20")
    assert throttle.requests_throttled > 0 and throttle.statements_throttled > 0
    assert result.code == 0 and result.summary["touched"] == 300 and result.summary["retried_requests"] > 0
    fires = fired_by(stream(table), "thr20")
    drill("throttle-20%", 300, fires, requests_throttled=throttle.requests_throttled,
          statements_throttled=throttle.statements_throttled, elapsed_s=result.summary["elapsed_s"])  # fmt: skip
    assert fires == Counter(keys)


def test_full_throttling_stops_after_the_stall_limit(
    ddb: Any, make_table: Any, stream: Any, worker: Any, tmp_path: Path
) -> None:
    table, keys = loaded(ddb, make_table, 100)
    inserts = len(stream(table))
    client = emulator.ddb(ddb.meta.endpoint_url)
    Throttle(client, request_share=0.0, statement_share=1.0)
    started = time.monotonic()
    out = tmp_path / "redrive.jsonl"
    result = worker(table, client=client, retry=RetryPolicy(base_s=0.05, stall_s=1.5), HASH_KEY_VALUE="p1",
                    FAILED_KEYS_OUT=str(out))  # fmt: skip
    assert time.monotonic() - started < 10
    s = result.summary
    drill("throttle-100%", 100, fired_by(stream(table), s["run_id"]), exit=result.code, failed=s["failed"],
          unprocessed=s["unprocessed"], gave_up_after_s=round(time.monotonic() - started, 2))  # fmt: skip
    assert result.code == 1 and s["touched"] == 0 and s["failed"] > 0
    assert s["failed"] + s["unprocessed"] == 100
    assert "no write succeeded for" in s["error"] and "MAX_STALL_SECONDS=1.5" in s["error"]
    assert s["throttled_statements"] >= s["failed"] > 0  # every failed item was refused; some may never be sent
    assert len(stream(table)) == inserts
    # the aborted run's re-drive file holds every key, failed or unprocessed
    assert sorted((k["pk"]["S"], k["sk"]["S"]) for k in map(json.loads, out.read_text().splitlines())) == keys


def spawn(endpoint: str, table: str, **env: str) -> subprocess.Popen[str]:
    variables = worker_process_env(endpoint, TABLE_NAME=table, **env)
    return subprocess.Popen([sys.executable, "-m", "stream_rerun"], env=variables, stdout=subprocess.PIPE, text=True)


def lines_of(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out, _ = proc.communicate(timeout=60)
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGKILL, -9), (signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_stopped_mid_run_then_same_run_id_fires_each_item_exactly_once(
    fresh_endpoint: str, make_table: Any, sig: int, code: int
) -> None:
    # GIVEN a run slowed to 200 items/s over 1500 items (on an emulator of its own: 4,500 records a drill)
    endpoint, ddb = fresh_endpoint, emulator.ddb(fresh_endpoint)
    table, keys = loaded(ddb, lambda: make_table(client=ddb), 1500)
    run = f"drill-{sig}"
    proc = spawn(endpoint, table, HASH_KEY_VALUE="p1", RUN_ID=run, MAX_ITEMS_PER_SECOND="200")
    # WHEN it is stopped part-way
    wait_for_touches(ddb, table, run, 100)
    proc.send_signal(sig)
    stopped = time.monotonic()
    lines = lines_of(proc)
    time_to_stop = time.monotonic() - stopped
    # THEN it stops quickly, with an honest summary unless killed
    assert proc.returncode == code and time_to_stop < 10
    if sig != signal.SIGKILL:
        first = lines[-1]
        assert first["event"] == "summary" and first["interrupted"] is True
        assert 0 < first["touched"] < 1500
        assert first["selected"] == first["touched"] + first["unprocessed"]
    # WHEN the same RUN_ID runs again, THEN every item fired exactly once across both runs
    second = lines_of(spawn(endpoint, table, HASH_KEY_VALUE="p1", RUN_ID=run))[-1]
    assert second["exit_code"] == 0
    assert second["touched"] + second["already_done"] == 1500 and second["already_done"] > 0
    fires = fired_by(emulator.stream_records(endpoint, ddb, table), run)
    drill(f"signal-{sig}", 1500, fires, exit=proc.returncode, time_to_stop_s=round(time_to_stop, 2),
          second_touched=second["touched"], second_already_done=second["already_done"])  # fmt: skip
    assert fires == Counter(keys)


def test_concurrent_writer_loses_nothing_and_resurrects_nothing(
    ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    # GIVEN 1000 items and a writer updating and deleting some of them while the run goes on
    table, keys = loaded(ddb, make_table, 1000)
    writer_client = emulator.ddb(ddb.meta.endpoint_url)
    written: dict[tuple[str, str], str] = {}
    deleted: set[tuple[str, str]] = set()
    done = threading.Event()

    def writer() -> None:
        for n, (pk, sk) in enumerate(keys[::3]):
            if done.is_set():
                break
            key = {"pk": {"S": pk}, "sk": {"S": sk}}
            if n % 4 == 0:
                writer_client.delete_item(TableName=table, Key=key)
                deleted.add((pk, sk))
            else:
                value = f"writer-{n}"
                writer_client.update_item(TableName=table, Key=key, UpdateExpression="SET v = :v",
                                          ExpressionAttributeValues={":v": {"S": value}})  # fmt: skip
                written[(pk, sk)] = value
            time.sleep(0.004)

    thread = threading.Thread(target=writer)
    thread.start()
    result = worker(table, HASH_KEY_VALUE="p1", RUN_ID="race", MAX_ITEMS_PER_SECOND="400")
    done.set()
    thread.join()
    # THEN every value the writer wrote survives, no deleted item is back, each survivor was bumped once
    items = {(it["pk"]["S"], it["sk"]["S"]): it for it in ddb.scan(TableName=table)["Items"]}
    assert not deleted & set(items), "a deleted item came back"
    assert all(items[k]["v"] == {"S": v} for k, v in written.items() if k not in deleted)
    survivors = [k for k in keys if k not in deleted]
    assert all(items[k]["revision"] == {"N": "2"} and items[k]["rerun_id"] == {"S": "race"} for k in survivors)
    fires = fired_by(stream(table), "race")
    lost = sum(1 for k, v in written.items() if k not in deleted and items[k]["v"] != {"S": v})
    drill("concurrent-writer", 1000, fires, lost_updates=lost, resurrected=len(deleted & set(items)),
          writer_updates=len(written), writer_deletes=len(deleted), vanished=result.summary["vanished"])  # fmt: skip
    assert all(fires[k] == 1 for k in survivors) and max(fires.values()) == 1
    s = result.summary
    # an item deleted before the Query read it was never selected; one deleted after it was selected is vanished
    assert 0 < s["vanished"] <= len([k for k in deleted if fires[k] == 0])
    assert s["touched"] == sum(fires.values()) and s["touched"] + s["vanished"] == s["selected"]
    assert len(deleted) > 20 and len(written) > 60  # the writer really overlapped the run


@pytest.mark.parametrize(
    ("env", "code", "message"),
    [
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, 1, "cannot reach DynamoDB"),
        ({"AWS_ACCESS_KEY_ID": "AKIA!bad"}, 2, "UnrecognizedClientException"),
    ],
)
def test_unreachable_endpoint_or_bad_credentials_fail_in_one_line(
    endpoint: str, make_table: Any, env: dict[str, str], code: int, message: str
) -> None:
    table = make_table()
    started = time.monotonic()
    proc = spawn(endpoint, table, HASH_KEY_VALUE="p1", **env)
    out, _ = proc.communicate(timeout=90)
    assert time.monotonic() - started < 60
    assert proc.returncode == code
    lines = out.splitlines()
    assert len(lines) == 1 and message in json.loads(lines[0])["message"]
    assert "Traceback" not in out
