"""The write path against what DynamoDB does and the emulator does not (issue 18): lost answers without a marker,
per-statement AccessDenied / ResourceNotFound, repeated keys in one request, a request refused whole. The fault
proxy is the capacity model (tests/support/capacity.py); what fired is read from the table and its stream."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stream_rerun_dev import emulator
from tests.support.capacity import CapacityModel, CapacityProxy
from tests.support.env import worker_process_env
from tests.support.items import item
from tests.support.streams import fired_by, key_of, modifies, wait_for_touches


def loaded(ddb: Any, make_table: Any, n: int) -> tuple[str, list[tuple[str, str]]]:
    table = make_table()
    emulator.put_items(ddb, table, [item("p1", f"{i:05}", revision=1) for i in range(n)])
    return table, [("p1", f"{i:05}") for i in range(n)]


def revisions(ddb: Any, table: str) -> dict[tuple[str, str], int]:
    items = emulator_scan(ddb, table)
    return {(it["pk"]["S"], it["sk"]["S"]): int(it["revision"]["N"]) for it in items}


def emulator_scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    pages = ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return [it for page in pages for it in page["Items"]]


def redrive_keys(path: Path) -> list[tuple[str, str]]:
    return sorted((k["pk"]["S"], k["sk"]["S"]) for k in map(json.loads, path.read_text().splitlines()))


def test_lost_answers_without_a_marker_are_never_resent(
    endpoint: str, ddb: Any, make_table: Any, stream: Any, worker: Any, tmp_path: Path
) -> None:
    # GIVEN 300 items, no marker, and a fifth of the answers lost after the write was applied
    table, keys = loaded(ddb, make_table, 300)
    out = tmp_path / "redrive.jsonl"
    with CapacityProxy(endpoint, CapacityModel(lose_share=0.2)) as proxy:
        result = worker(table, at=proxy.endpoint, HASH_KEY_VALUE="p1", RERUN_MARKER_ATTRIBUTE="",
                        FAILED_KEYS_OUT=str(out))  # fmt: skip
    # THEN each item's revision rose by exactly 1 or not at all, and each fired at most once
    after = revisions(ddb, table)
    assert proxy.lost > 0 and set(after.values()) <= {1, 2}
    fires = Counter(key_of(r) for r in modifies(stream(table)))
    assert max(fires.values()) == 1 and sum(fires.values()) == sum(v == 2 for v in after.values())
    # AND the items whose answer was lost are unprocessed, in the re-drive file, with a line saying why; exit 1
    s = result.summary
    assert result.code == 1 and s["failed"] == 0 and s["touched"] + s["unprocessed"] == 300
    assert s["lost_answers"] == proxy.lost and s["unprocessed"] > 0
    lost_lines = [line for line in result.lines if line.get("event") == "answer_lost"]
    assert sum(line["items"] for line in lost_lines) == s["unprocessed"]
    assert "RERUN_MARKER_ATTRIBUTE is empty" in lost_lines[0]["reason"]
    assert len(redrive_keys(out)) == s["unprocessed"] and set(redrive_keys(out)) <= set(keys)
    assert all(after[k] == 2 for k in keys if k not in set(redrive_keys(out)))  # touched means written once


@pytest.mark.parametrize(
    ("code", "named"), [("AccessDenied", "dynamodb:PartiQLUpdate"), ("ResourceNotFound", "check TABLE_NAME")]
)
def test_a_statement_refused_for_access_or_a_missing_table_stops_the_run(
    endpoint: str, ddb: Any, make_table: Any, worker: Any, tmp_path: Path, code: str, named: str
) -> None:
    # GIVEN 400 items and one statement in 20 answered AccessDenied / ResourceNotFound
    table, _ = loaded(ddb, make_table, 400)
    out = tmp_path / "redrive.jsonl"
    model = CapacityModel(error_code=code, error_share=0.05)
    with CapacityProxy(endpoint, model) as proxy:
        result = worker(table, at=proxy.endpoint, HASH_KEY_VALUE="p1", RUN_ID="deny", CONCURRENCY="2",
                        MAX_ITEMS_PER_SECOND="400", FAILED_KEYS_OUT=str(out))  # fmt: skip
    # THEN the run stops at the first one, exit 1, naming the missing permission or table; the rest is re-drivable
    s = result.summary
    assert proxy.errors > 0 and result.code == 1
    assert code in s["error"] and named in s["error"] and table in s["error"]
    assert s["touched"] < 200 and s["failed"] + s["unprocessed"] > 200
    assert s["touched"] + s["failed"] + s["unprocessed"] == s["selected"] <= 400
    assert len(redrive_keys(out)) == s["failed"] + s["unprocessed"]


def test_a_key_repeated_in_one_request_is_sent_once(
    endpoint: str, ddb: Any, make_table: Any, stream: Any, worker: Any, tmp_path: Path
) -> None:
    # GIVEN a key file of 100 items in which every fifth key appears twice in a row (one request holds both).
    # DynamoDB refuses such a request; DynamoDB Local refuses it too, after applying both statements.
    table, keys = loaded(ddb, make_table, 100)
    lines = []
    for n, (pk, sk) in enumerate(keys):
        lines += [json.dumps({"pk": {"S": pk}, "sk": {"S": sk}})] * (2 if n % 5 == 0 else 1)
    (tmp_path / "keys.jsonl").write_text("\n".join(lines) + "\n")
    # WHEN the file is re-fired without a marker
    result = worker(table, KEYS_FILE=str(tmp_path / "keys.jsonl"), RERUN_MARKER_ATTRIBUTE="")
    # THEN every item fired exactly once; the repeats are already_done; selected is the sum of the outcomes
    s = result.summary
    assert result.code == 0 and s["selected"] == 120 and s["touched"] == 100 and s["already_done"] == 20
    assert Counter(key_of(r) for r in modifies(stream(table))) == Counter(keys)
    assert set(revisions(ddb, table).values()) == {2}


def test_a_request_refused_whole_is_split_and_only_the_bad_statement_fails(
    endpoint: str, ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    # GIVEN 200 items and a request refused as a whole (ValidationException) whenever it holds item 00042
    table, keys = loaded(ddb, make_table, 200)
    with CapacityProxy(endpoint, CapacityModel(invalid_keys=frozenset({"00042"}))) as proxy:
        result = worker(table, at=proxy.endpoint, HASH_KEY_VALUE="p1", RUN_ID="split")
    # THEN only that item fails, with DynamoDB's message, and the run goes on to fire every other item once
    s = result.summary
    failures = [line for line in result.lines if line.get("event") == "item_failed"]
    assert proxy.refused > 1 and result.code == 1 and "error" not in s
    assert s["touched"] == 199 and s["failed"] == 1 and s["unprocessed"] == 0
    assert [f["key"]["sk"] for f in failures] == ["00042"] and "ValidationException" in failures[0]["reason"]
    assert fired_by(stream(table), "split") == Counter(k for k in keys if k[1] != "00042")


def spawn(endpoint: str, table: str, **env: str) -> subprocess.Popen[str]:
    variables = worker_process_env(endpoint, TABLE_NAME=table, **env)
    return subprocess.Popen([sys.executable, "-m", "stream_rerun"], env=variables, stdout=subprocess.PIPE, text=True)


def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_sigterm_while_every_answer_is_held_stops_within_20_s_with_a_summary_and_redrive_file(
    endpoint: str, ddb: Any, make_table: Any, tmp_path: Path
) -> None:
    # GIVEN a run of 500 items at 100 items/s through the proxy, writing a re-drive file
    table, keys = loaded(ddb, make_table, 500)
    out = tmp_path / "redrive.jsonl"
    with CapacityProxy(endpoint) as proxy:
        proc = spawn(proxy.endpoint, table, HASH_KEY_VALUE="p1", RUN_ID="held", MAX_ITEMS_PER_SECOND="100",
                     FAILED_KEYS_OUT=str(out))  # fmt: skip
        wait_for_touches(ddb, table, "held", 50)
        # WHEN every answer is held (DynamoDB unreachable mid-call) and ECS sends SIGTERM
        with proxy.hold():
            wait_until(lambda: proxy.held > 0, "no request was held")
            proc.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            output, _ = proc.communicate(timeout=60)
            took = time.monotonic() - stopped
    # THEN within 20 s (ECS's stopTimeout leaves room) it printed the summary and wrote the re-drive file
    summary = json.loads(output.splitlines()[-1])
    assert took < 20, f"stopping took {took:.1f} s"
    assert proc.returncode == 143 and summary["event"] == "summary" and summary["interrupted"] is True
    settled = summary["touched"] + summary["already_done"]
    assert summary["selected"] == settled + summary["failed"] + summary["unprocessed"] and summary["unprocessed"] > 0
    assert len(redrive_keys(out)) == summary["failed"] + summary["unprocessed"] == summary["failed_keys_written"]
    assert set(redrive_keys(out)) <= set(keys)


def test_sigterm_during_preflight_ends_it_with_a_summary(endpoint: str, ddb: Any, make_table: Any) -> None:
    # GIVEN a worker whose preflight waits on DynamoDB (every answer held)
    table, _ = loaded(ddb, make_table, 10)
    with CapacityProxy(endpoint) as proxy, proxy.hold():
        proc = spawn(proxy.endpoint, table, HASH_KEY_VALUE="p1")
        wait_until(lambda: proxy.held > 0, "preflight never called DynamoDB")
        # WHEN SIGTERM arrives during preflight
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        output, _ = proc.communicate(timeout=60)
        took = time.monotonic() - stopped
    # THEN it stops at once, cleanly: a summary, nothing selected, exit 128+15
    summary = json.loads(output.splitlines()[-1])
    assert took < 5 and proc.returncode == 143 and "Traceback" not in output
    assert summary["event"] == "summary" and summary["interrupted"] is True and summary["selected"] == 0


def test_a_hot_partition_backs_off_alone_and_the_rest_keeps_its_rate(
    endpoint: str, ddb: Any, make_table: Any, stream: Any, worker: Any, tmp_path: Path
) -> None:
    # GIVEN a key file of 100 keys of a hot partition (8 WCU/s, a burst of 25: at least 9 s for its items) and 300 of a
    # cold one (unlimited), in blocks of 25, and DynamoDB throttling a request whole, with ThrottlingReasons
    # TableWriteKeyRangeThroughputExceeded, when the hot partition runs short
    table = make_table()
    hot = [("hot", f"{i:05}") for i in range(100)]
    cold = [("cold", f"{i:05}") for i in range(300)]
    emulator.put_items(ddb, table, [item(pk, sk, revision=1) for pk, sk in hot + cold])
    order = hot[:25] + cold[:25] + hot[25:50] + cold[25:50] + hot[50:] + cold[50:]
    lines = [json.dumps({"pk": {"S": pk}, "sk": {"S": sk}}) for pk, sk in order]
    (tmp_path / "keys.jsonl").write_text("\n".join(lines) + "\n")
    model = CapacityModel(partition_limits={"hot": 8.0}, partition_burst_s=3.2, key_range_errors=True)
    with CapacityProxy(endpoint, model) as proxy:
        result = worker(table, at=proxy.endpoint, KEYS_FILE=str(tmp_path / "keys.jsonl"), RUN_ID="hot")
    # THEN the cold partition's items were all written while the hot one's still backed off (before: the whole run's
    # rate was cut at each throttle, and the cold items trailed the hot ones)
    s = result.summary
    cold_s = max(proxy.by_partition["cold"]) - min(proxy.by_partition["cold"])
    hot_s = max(proxy.by_partition["hot"]) - min(proxy.by_partition["hot"])
    print(f"\nHOT PARTITION: cold 300 items in {cold_s:.2f} s, hot 100 items in {hot_s:.2f} s, "
          f"{proxy.key_range_throttled} requests throttled for their key range")  # fmt: skip
    assert max(proxy.by_partition["cold"]) < max(proxy.by_partition["hot"])
    assert result.code == 0 and s["touched"] == 400 and proxy.key_range_throttled > 0
    assert s["key_range_throttles"] == proxy.key_range_throttled
    assert fired_by(stream(table), "hot") == Counter(hot + cold)


def table_with_indexes(ddb: Any, name: str, table_wcu: int, gsi_wcu: int, lsi: bool = False) -> None:
    """A provisioned table whose GSI by_date (ALL) has capacity of its own, and optionally an LSI by_v (ALL)."""
    throughput = {"ReadCapacityUnits": 1000, "WriteCapacityUnits": table_wcu}
    attrs = [("pk", "S"), ("sk", "S"), ("day", "S")] + ([("v", "S")] if lsi else [])
    ddb.create_table(
        TableName=name, BillingMode="PROVISIONED", ProvisionedThroughput=throughput,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in attrs],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        GlobalSecondaryIndexes=[{
            "IndexName": "by_date", "KeySchema": [{"AttributeName": "day", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 1000, "WriteCapacityUnits": gsi_wcu},
        }],
        **({"LocalSecondaryIndexes": [{
            "IndexName": "by_v", "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "v", "KeyType": "RANGE"}],
        }]} if lsi else {}),
    )  # fmt: skip
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


def test_max_wcu_percent_holds_each_written_index_to_its_own_capacity(
    endpoint: str, ddb: Any, stream: Any, worker: Any
) -> None:
    # GIVEN a table of 1,000 WCU whose ALL index by_date has only 100 WCU of its own, 200 small items, and a run at
    # 40% (the table's share would be 400 WCU/s; the index's is 40)
    table = f"t-gsi-{time.monotonic_ns()}"
    table_with_indexes(ddb, table, 1000, 100)
    keys = [("p1", f"{i:05}") for i in range(200)]
    emulator.put_items(ddb, table, [item(pk, sk, revision=1, day="2024-06-01") for pk, sk in keys])
    try:
        with CapacityProxy(endpoint, CapacityModel(index_wcu={"by_date": 100.0})) as proxy:
            result = worker(table, at=proxy.endpoint, HASH_KEY_VALUE="p1", RUN_ID="gsi", MAX_WCU_PERCENT="40")
            units, seconds = proxy.rate("by_date")
            worst = proxy.max_window(1.0, "by_date")
        # THEN the index is the binding resource, and its own units stay at 40% of its capacity every second
        started = result.event("run_started")
        print(f"\nGSI 40% of 100 WCU/s: {units / seconds:.1f}/s, worst 1-s window {worst:.0f}")
        assert (
            started["wcu_cap_resource"] == "index by_date" and "index by_date's 100 WCU/s" in started["wcu_cap_reason"]
        )
        assert result.code == 0 and result.summary["touched"] == 200 and units == 200
        assert units / seconds <= 40 * 1.1 and worst <= 1.5 * 40
        assert fired_by(stream(table), "gsi") == Counter(keys)
    finally:
        ddb.delete_table(TableName=table)


def test_local_secondary_indexes_count_in_the_estimate_and_indexes_written(ddb: Any, worker: Any) -> None:
    table = f"t-lsi-{time.monotonic_ns()}"
    table_with_indexes(ddb, table, 1000, 1000, lsi=True)
    items = [item("p1", f"{i:05}", revision=1, day="d", v="x", blob="y" * 1500) for i in range(10)]
    emulator.put_items(ddb, table, items)
    try:
        result = worker(table, HASH_KEY_VALUE="p1", DRY_RUN="true")
        # ~1.5 KB: 2 units for the table, 2 for the ALL GSI, 2 for the ALL LSI (paid from the table's capacity)
        assert result.event("run_started")["indexes_written"] == ["by_date", "by_v"]
        assert result.summary["estimated_wcu"] == 10 * 6
    finally:
        ddb.delete_table(TableName=table)
