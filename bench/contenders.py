"""`make bench`'s contenders: each runs in a child process of its own (`python -m bench.contenders KIND ENDPOINT TABLE
RTT_S`), so its CPU time (getrusage) and its peak RSS are its own, and prints one JSON line: items, elapsed_s, cpu_s,
max_rss_kb, and for the worker how it started, from its progress lines (written every 0.5 s here instead of every
5 s): first_items_per_s, its rate over its first 5 s, and steady_at_s, when it first wrote at 90% of its steady rate
(the median of its half-second rates).

The worker runs through its own `run` function with the clients it makes itself (aws.py's configuration: the write
client's single attempt, timeouts, no client-side validation). An emulated network round trip (a botocore
`before-send` hook that sleeps; the sleep releases the GIL like a socket wait) is added to every request of the seed
port and of the worker; the server limit has none.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import queue
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import stream_rerun.__main__ as worker_main
from stream_rerun import engine
from stream_rerun.aws import dynamodb_client
from stream_rerun.config import load_settings
from stream_rerun.log import configure_logging
from stream_rerun.table import TableInfo
from stream_rerun.touch import Outcome, Pending, Toucher
from stream_rerun_dev import emulator as local

PARTITION = "bench"
CAP = 400.0  # items/s or WCU/s for the rate-cap rows: well below the emulator's limit, over at least 10 s
STEP_S = 0.5  # the worker's progress interval in the bench (5 s in a run): the start is read at this resolution
START = [0.0]  # when the measured part began (a contender moves it past its own set-up)


def emulate_rtt(client: Any, rtt_s: float) -> Any:
    if rtt_s > 0:
        client.meta.events.register("before-send.dynamodb.*", lambda **_: time.sleep(rtt_s))
    return client


@contextlib.contextmanager
def worker_clients(rtt_s: float, writes_to: str | None = None) -> Iterator[None]:
    """The worker makes its own clients (aws.py), each with the emulated round trip; `writes_to` sends the touches
    straight to that endpoint (the window rows: the export stand-in answers the other calls)."""
    real = worker_main.dynamodb_client

    def made(region: str, max_connections: int = 10, *, writes: bool = False) -> Any:
        if not (writes and writes_to):
            return emulate_rtt(real(region, max_connections, writes=writes), rtt_s)
        saved = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = writes_to
        try:
            return emulate_rtt(real(region, max_connections, writes=writes), rtt_s)
        finally:
            os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB")
            if saved is not None:
                os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = saved

    worker_main.dynamodb_client = made  # type: ignore[assignment]
    try:
        yield
    finally:
        worker_main.dynamodb_client = real


def seed_port(endpoint: str, table: str, rtt_s: float) -> dict[str, Any]:
    """A faithful port of the seed's Go script: Query the partition, then PutItem each item with revision + 1."""
    client = emulate_rtt(local.ddb(endpoint), rtt_s)
    params: dict[str, Any] = {"TableName": table, "KeyConditionExpression": "pk = :p",
                              "ExpressionAttributeValues": {":p": {"S": PARTITION}}}  # fmt: skip
    count = 0
    while True:
        page = client.query(**params)
        for item in page["Items"]:
            item["revision"] = {"N": str(int(item.get("revision", {"N": "0"})["N"]) + 1)}
            client.put_item(TableName=table, Item=item)
            count += 1
        if "LastEvaluatedKey" not in page:
            return {"items": count}
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def server_limit(endpoint: str, table: str, _rtt_s: float) -> dict[str, Any]:
    """Many threads of 25-statement conditional updates through the worker's own write client (aws.py) and touch,
    keys read beforehand, no emulated round trip: the most the emulator takes for this write shape here."""
    os.environ.update(local.worker_env(endpoint))
    client = dynamodb_client(os.environ["AWS_REGION"], 20, writes=True)
    info = TableInfo(table, ("pk", "sk"), {"pk": "S", "sk": "S"}, {}, "", 0, 0)
    toucher = Toucher(client, info, "revision", "rerun_id", f"limit-{time.time_ns()}")
    keys: list[Any] = []
    params: dict[str, Any] = {"TableName": table, "KeyConditionExpression": "pk = :p", "ProjectionExpression": "pk, sk",
                              "ExpressionAttributeValues": {":p": {"S": PARTITION}}}  # fmt: skip
    while True:
        page = client.query(**params)
        keys.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    batches: queue.Queue[list[Any]] = queue.Queue()
    for i in range(0, len(keys), 25):
        batches.put(keys[i : i + 25])
    done = [0] * 16

    def loop(n: int) -> None:
        while True:
            try:
                batch = batches.get_nowait()
            except queue.Empty:
                return
            done[n] += len(toucher.send([Pending(k) for k in batch]).settled)

    START[0] = time.perf_counter()  # reading the keys is not part of the limit
    threads = [threading.Thread(target=loop, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"items": sum(done)}


def worker(endpoint: str, table: str, rtt_s: float, **selection: str) -> dict[str, Any]:
    """The worker at default settings, through its own run function; its summary and first progress line read."""
    selection = selection or {"HASH_KEY_VALUE": PARTITION}
    writes_to = selection.pop("BENCH_WRITES_TO", None)
    os.environ.update(local.worker_env(endpoint, TABLE_NAME=table, LOG_LEVEL="INFO", **selection))
    settings = load_settings()
    out = io.StringIO()
    engine.PROGRESS_INTERVAL_S = STEP_S  # the start, read at this resolution
    with worker_clients(rtt_s, writes_to), contextlib.redirect_stdout(out):  # its log lines are ours to read
        configure_logging(settings.log_level, settings.run_id, table)
        START[0] = time.perf_counter()
        code = worker_main.run(settings)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    summary = lines[-1]
    if code != 0:
        raise SystemExit(f"worker exited {code}: {summary}")
    return {"items": int(summary["touched"]), "run_items_per_s": summary.get("items_per_s"), **start_of(lines)}


def start_of(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The worker's start from its half-second progress lines: its rate over the first 5 s, and when a half second
    first reached 90% of its steady rate (the median half second, the last, partial, one left out)."""
    progress = [x for x in lines if x.get("event") == "progress"]
    marks = [(0.0, 0)] + [(x["elapsed_s"], sum(x[o.value] for o in Outcome)) for x in progress]
    rates = [(t0, (d1 - d0) / (t1 - t0)) for (t0, d0), (t1, d1) in itertools.pairwise(marks) if t1 > t0]
    first = next(((d / t) for t, d in marks[1:] if t >= 5.0 - STEP_S / 2), None)
    if first is None:  # a run shorter than 5 s is mostly its start: it has no steady rate to speak of
        return {"first_items_per_s": None, "steady_at_s": None}
    steady = statistics.median(r for _, r in rates[:-1])
    return {"first_items_per_s": first, "steady_at_s": next(t for t, r in rates if r >= 0.9 * steady)}


def whole_table(endpoint: str, table: str, rtt_s: float) -> dict[str, Any]:
    """The worker over a whole table: ALL_ITEMS=true (a parallel Scan of keys), default settings otherwise."""
    return worker(endpoint, table, rtt_s, ALL_ITEMS="true", RUN_ID=f"whole-{time.time_ns()}")


def from_export(endpoint: str, table: str, rtt_s: float) -> dict[str, Any]:
    """The worker with an export's folder as KEYS_FILE (bench/export.py passes it in BENCH_KEYS_FILE)."""
    return worker(endpoint, table, rtt_s, KEYS_FILE=os.environ["BENCH_KEYS_FILE"], RUN_ID=f"export-{time.time_ns()}")


def window(endpoint: str, table: str, rtt_s: float) -> dict[str, Any]:
    """One worker of a CHANGED_FROM run (bench/window.py sets the window, its share and the endpoints in the
    environment; BENCH_WRITES_TO is the emulator the touches go to)."""
    return worker(endpoint, table, rtt_s, BENCH_WRITES_TO=os.environ["BENCH_WRITES_TO"])


def capped_items(endpoint: str, table: str, rtt_s: float) -> dict[str, Any]:
    return worker(endpoint, table, rtt_s, HASH_KEY_VALUE=PARTITION, MAX_ITEMS_PER_SECOND=str(CAP))


def capped_wcu(endpoint: str, table: str, rtt_s: float) -> dict[str, Any]:
    return worker(endpoint, table, rtt_s, HASH_KEY_VALUE=PARTITION, MAX_WCU_PER_SECOND=str(CAP))


CONTENDERS: dict[str, Callable[[str, str, float], dict[str, Any]]] = {
    "seed": seed_port, "limit": server_limit, "worker": worker, "whole": whole_table, "items_cap": capped_items,
    "wcu_cap": capped_wcu, "export": from_export, "window": window,
}  # fmt: skip


def peak_rss_kb() -> int:
    """This process's own peak RSS: VmHWM of its address space (Linux). getrusage's ru_maxrss would carry the bench
    driver's peak over the fork and exec that started this process."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(kind: str, endpoint: str, table: str, rtt_s: float) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF)
    START[0] = time.perf_counter()
    result = CONTENDERS[kind](endpoint, table, rtt_s)
    elapsed = time.perf_counter() - START[0]
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({**result, "elapsed_s": elapsed, "cpu_s": cpu, "max_rss_kb": peak_rss_kb()}))


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
