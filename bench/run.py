"""`make bench`: the worker against the seed's script and against the server's own limit, on DynamoDB Local.

Every contender runs in its own process (so its rusage and peak RSS are its own) against the same table shape
(~200-byte items in one partition). An emulated network round trip (a botocore `before-send` hook that sleeps; the
sleep releases the GIL like a socket wait) is applied to every request of the seed port and of the worker. The
server limit has no emulated round trip: it is the most the emulator takes for this write shape on this machine.

    python bench/run.py [--sizes 2000 20000] [--rtt-ms 5] [--out bench/results.md]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import queue
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.export import export_report, measure_export
from tests.support.capacity import CapacityModel, CapacityProxy  # the test suite's model (make bench: PYTHONPATH=.)

from stream_rerun.__main__ import run
from stream_rerun.config import Settings, load_settings
from stream_rerun.log import configure_logging
from stream_rerun.table import TableInfo
from stream_rerun.touch import Pending, Toucher
from stream_rerun_dev import emulator as local

ROOT = Path(__file__).resolve().parents[1]

PARTITION = "bench"
SEED_MAX = 2000
ROUNDS = 3


# ---- contenders (each runs in a child process) ----
def emulate_rtt(client: Any, rtt_s: float) -> Any:
    if rtt_s > 0:
        client.meta.events.register("before-send.dynamodb.*", lambda **_: time.sleep(rtt_s))
    return client


def seed_port(endpoint: str, table: str, rtt_s: float) -> int:
    """A faithful port of the seed's Go script: Query the partition, then PutItem each item with revision + 1."""
    client = emulate_rtt(local.ddb(endpoint), rtt_s)
    params: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": PARTITION}},
    }
    count = 0
    while True:
        page = client.query(**params)
        for item in page["Items"]:
            revision = int(item.get("revision", {"N": "0"})["N"])
            item["revision"] = {"N": str(revision + 1)}
            client.put_item(TableName=table, Item=item)
            count += 1
        if "LastEvaluatedKey" not in page:
            return count
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def server_limit(endpoint: str, table: str, _rtt_s: float) -> int:
    """Many threads of 25-statement conditional updates, keys read beforehand, no emulated round trip."""
    client = local.ddb(endpoint)
    info = TableInfo(table, ("pk", "sk"), {"pk": "S", "sk": "S"}, {}, "", 0, 0)
    toucher = Toucher(client, info, "revision", "rerun_id", f"limit-{time.time_ns()}")
    keys: list[Any] = []
    params: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": PARTITION}},
        "ProjectionExpression": "pk, sk",
    }
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
            result = toucher.send([Pending(k) for k in batch])
            done[n] += len(result.settled)

    START[0] = time.perf_counter()  # reading the keys is not part of the limit
    threads = [threading.Thread(target=loop, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done)


def worker(endpoint: str, table: str, rtt_s: float, **selection: str) -> int:
    """The worker at default settings (through its own run function, with the emulated round trip)."""
    selection = selection or {"HASH_KEY_VALUE": PARTITION}
    os.environ.update(local.worker_env(endpoint, TABLE_NAME=table, LOG_LEVEL="WARNING", **selection))
    settings = load_settings()
    client = emulate_rtt(local.ddb(endpoint), rtt_s)
    START[0] = time.perf_counter()  # creating the client is not part of the run (as for the server limit)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # the summary line is ours to read, not part of the measurement
        configure_logging(settings.log_level, settings.run_id, table)
        code = run(settings, client)
    summary = json.loads(out.getvalue().splitlines()[-1])
    if code != 0:
        raise SystemExit(f"worker exited {code}: {summary}")
    return int(summary["touched"])


def whole_table(endpoint: str, table: str, rtt_s: float) -> int:
    """The worker over a whole table: ALL_ITEMS=true (a parallel Scan of keys), default settings otherwise."""
    return worker(endpoint, table, rtt_s, ALL_ITEMS="true", RUN_ID=f"whole-{time.time_ns()}")


def from_export(endpoint: str, table: str, rtt_s: float) -> int:
    """The worker with an export's folder as KEYS_FILE (bench/export.py passes it in BENCH_KEYS_FILE)."""
    return worker(endpoint, table, rtt_s, KEYS_FILE=os.environ["BENCH_KEYS_FILE"], RUN_ID=f"export-{time.time_ns()}")


def contender(kind: str) -> Any:
    return {"seed": seed_port, "limit": server_limit, "worker": worker, "whole": whole_table,
            "items_cap": capped_items, "wcu_cap": capped_wcu, "export": from_export}[kind]  # fmt: skip


START = [0.0]


def child(kind: str, endpoint: str, table: str, rtt_s: float) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF)
    START[0] = time.perf_counter()
    items = contender(kind)(endpoint, table, rtt_s)
    elapsed = time.perf_counter() - START[0]
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"items": items, "elapsed_s": elapsed, "cpu_s": cpu, "max_rss_kb": after.ru_maxrss}))


# ---- the driver ----
def measure(kind: str, endpoint: str, table: str, size: int, rtt_s: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, endpoint, table, str(rtt_s)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    if result["items"] != size:
        raise SystemExit(f"{kind} wrote {result['items']} of {size} items")
    result["items_per_s"] = size / result["elapsed_s"]
    result["cpu_ms_per_item"] = 1000 * result["cpu_s"] / size
    return result


def warm_up(endpoint: str, table: str, size: int) -> None:
    """Run the server limit until the emulator's JVM stops getting faster (< 5% gain, at most 6 runs)."""
    last = 0.0
    for _ in range(6):
        rate = measure("limit", endpoint, table, size, 0)["items_per_s"]
        if rate < last * 1.05:
            return
        last = max(last, rate)


def load(endpoint: str, size: int, partitions: int = 1) -> str:
    client = local.ddb(endpoint)
    table = f"bench-{size}-{partitions}"
    local.create_table(client, table, date_index=None)
    pad = "x" * 150  # ~200 bytes with keys, revision and names
    names = [PARTITION] if partitions == 1 else [f"p{n:04}" for n in range(partitions)]
    items = ({"pk": {"S": names[n % partitions]}, "sk": {"S": f"{n:08}"}, "revision": {"N": "1"}, "data": {"S": pad}}
             for n in range(size))  # fmt: skip
    local.put_items(client, table, items)
    return table


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run by items/s, with the range of all runs."""
    ordered = sorted(runs, key=lambda r: r["items_per_s"])
    low, high = ordered[0]["items_per_s"], ordered[-1]["items_per_s"]
    return {**ordered[len(ordered) // 2], "range": f"{low:.0f}-{high:.0f}" if len(runs) > 1 else ""}


CAP = 400.0  # items/s or WCU/s for the rate-cap rows: well below the emulator's limit, over at least 10 s


def capped_items(endpoint: str, table: str, rtt_s: float) -> int:
    return worker(endpoint, table, rtt_s, HASH_KEY_VALUE=PARTITION, MAX_ITEMS_PER_SECOND=str(CAP))


def capped_wcu(endpoint: str, table: str, rtt_s: float) -> int:
    return worker(endpoint, table, rtt_s, HASH_KEY_VALUE=PARTITION, MAX_WCU_PER_SECOND=str(CAP))


def measure_caps(rtt_ms: float) -> list[dict[str, Any]]:
    """Each cap over 12 x CAP items (12 s when the cap holds), in an emulator of its own: the rate achieved."""
    items, out = int(12 * CAP), []
    with local.dynamodb_local(ROOT / ".cache" / "dynamodb-local") as endpoint:
        table = load(endpoint, items)
        for kind in ("items_cap", "wcu_cap"):
            r = measure(kind, endpoint, table, items, rtt_ms / 1000)
            print(f"{items:>6} {kind:<9} {r['items_per_s']:8.1f} items/s (cap {CAP:g})", flush=True)
            out.append({**r, "kind": kind, "size": items})
    return out


def cap_report(caps: list[dict[str, Any]]) -> str:
    lines = [
        "",
        "## Rate caps",
        "",
        f"The worker with one cap of {CAP:g}/s (DynamoDB Local reports no consumed capacity, so the WCU cap charges "
        "its estimate of 1 WCU per ~200-byte item; on AWS the reported units correct it):",
        "",
        "| cap | items | seconds | achieved /s | off by |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in caps:
        name = "MAX_ITEMS_PER_SECOND" if r["kind"] == "items_cap" else "MAX_WCU_PER_SECOND"
        off = 100 * (r["items_per_s"] - CAP) / CAP
        lines.append(f"| {name}={CAP:g} | {r['size']} | {r['elapsed_s']:.1f} | {r['items_per_s']:.1f} | {off:+.1f}% |")
    return "\n".join(lines) + "\n"


def measure_whole_table(size: int, rtt_ms: float) -> dict[str, Any]:
    """ALL_ITEMS over `size` items in 1,000 partitions: one warm-up pass, then the measured one."""
    with local.dynamodb_local(ROOT / ".cache" / "dynamodb-local") as endpoint:
        table = load(endpoint, size, partitions=1000)
        measure("whole", endpoint, table, size, rtt_ms / 1000)  # warm-up (its own RUN_ID: it touches everything)
        result = measure("whole", endpoint, table, size, rtt_ms / 1000)
    print(f"{size:>6} whole   {result['items_per_s']:8.0f} items/s  {result['cpu_ms_per_item']:.3f} ms CPU/item  "
          f"{result['max_rss_kb'] / 1024:.1f} MB", flush=True)  # fmt: skip
    return result


def whole_table_report(r: dict[str, Any], size: int, rtt_ms: float) -> str:
    return (
        f"\n## Whole table (ALL_ITEMS=true)\n\n{size} items in 1,000 partitions, default settings (one task, "
        f"TOTAL_SEGMENTS derived: 1), {rtt_ms:g} ms emulated round trip, after one warm-up pass:\n\n"
        "| items | items/s | client CPU ms/item | peak RSS MB |\n| ---: | ---: | ---: | ---: |\n"
        f"| {size} | {r['items_per_s']:.0f} | {r['cpu_ms_per_item']:.3f} | {r['max_rss_kb'] / 1024:.1f} |\n"
    )


# ---- capacity: the worker against the capacity model (tests/support/capacity.py) ----
def in_process(endpoint: str, table: str, **variables: str) -> dict[str, Any]:
    """The worker in this process (the proxy lives here too), its summary line returned."""
    for name in Settings.env_names():
        os.environ.pop(name, None)
    os.environ.update(local.worker_env(endpoint, TABLE_NAME=table, LOG_LEVEL="WARNING", **variables))
    settings = load_settings()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        configure_logging(settings.log_level, settings.run_id, table)
        run(settings)
    return dict(json.loads(out.getvalue().splitlines()[-1]))


def load_sized(endpoint: str, name: str, size: int, item_bytes: int, projection: str = "KEYS_ONLY") -> str:
    client = local.ddb(endpoint)
    local.create_table(client, name, projection=projection)
    pad = "x" * item_bytes
    items = ({"pk": {"S": PARTITION}, "sk": {"S": f"{n:08}"}, "day": {"S": "2024-06-01"}, "revision": {"N": "1"},
              "data": {"S": pad}} for n in range(size))  # fmt: skip
    local.put_items(client, name, items)
    return name


def partition_limited(cache: Path, concurrency: int, limit: float = 100.0) -> dict[str, Any]:
    """1,500 one-unit touches in one partition of `limit` WCU/s, no cap, ROUNDS times (the throttled share varies
    from run to run): the median run by throttled share, the worst share and the lowest rate."""
    runs, model = [], CapacityModel(partition_wcu=limit)
    for _ in range(ROUNDS):
        with local.dynamodb_local(cache) as endpoint, CapacityProxy(endpoint, model) as proxy:
            table = load_sized(endpoint, "edge", 1500, 150)  # 15 s at the partition's rate
            summary = in_process(proxy.endpoint, table, HASH_KEY_VALUE=PARTITION, CONCURRENCY=str(concurrency))
            units, seconds = proxy.rate()
            runs.append({"limit": limit, "units": units, "seconds": seconds, "exit": summary["exit_code"],
                         "throttled": proxy.throttled, "statements": proxy.throttled + proxy.admitted})  # fmt: skip
    runs.sort(key=lambda r: r["throttled"] / r["statements"])
    return {
        **runs[len(runs) // 2],
        "worst_share": runs[-1]["throttled"] / runs[-1]["statements"],
        "runs": len(runs),
        "lowest_rate": min(r["units"] / r["seconds"] / limit for r in runs),
        "exits": {r["exit"] for r in runs},
    }


def edge_row(edge: dict[str, Any], how: str) -> str:
    rate = edge["units"] / edge["seconds"] / edge["limit"]
    return (
        f"| partition-limited: 1,500 items of 1 WCU in one partition of {edge['limit']:g} WCU/s, no cap, {how} "
        f"(median of {edge['runs']} runs by throttled share) | {edge['units'] / edge['seconds']:.0f} WCU/s, exit codes "
        f"{sorted(edge['exits'])}, {edge['throttled']} of {edge['statements']} statements throttled; worst run "
        f"{edge['worst_share']:.3f}, lowest rate / limit {edge['lowest_rate']:.2f} | rate / limit {rate:.2f}; "
        f"throttled {edge['throttled'] / edge['statements']:.3f} |\n"
    )


def measure_capacity() -> dict[str, Any]:
    """Three runs on the capacity model, each in an emulator of its own."""
    cache = ROOT / ".cache" / "dynamodb-local"
    out: dict[str, Any] = {}
    with local.dynamodb_local(cache) as endpoint, CapacityProxy(endpoint) as proxy:
        table = load_sized(endpoint, "cap-4kb", 600, 4100)  # 5 units a touch, 3,000 units: 12 s at 250 WCU/s
        summary = in_process(proxy.endpoint, table, HASH_KEY_VALUE=PARTITION, MAX_WCU_PER_SECOND="250")
        units, seconds = proxy.rate()
        out["cap"] = {"cap": 250.0, "units": units, "seconds": seconds, "worst": proxy.max_window(1.0),
                      "reported": summary["consumed_wcu"]}  # fmt: skip
    out["edge"] = {concurrency: partition_limited(cache, concurrency) for concurrency in (8, 1)}
    out["index"] = {}
    for projection in ("KEYS_ONLY", "ALL"):
        with local.dynamodb_local(cache) as endpoint, CapacityProxy(endpoint) as proxy:
            table = load_sized(endpoint, f"idx-{projection.lower().replace('_', '-')}", 1000, 1500, projection)
            dry = in_process(proxy.endpoint, table, GSI_NAME="by_date", GSI_DATE="2024-06-01", DRY_RUN="true")
            summary = in_process(proxy.endpoint, table, GSI_NAME="by_date", GSI_DATE="2024-06-01")
            out["index"][projection] = {"per_item": summary["consumed_wcu"] / summary["touched"],
                                        "estimated": dry["estimated_wcu"] / dry["selected"]}  # fmt: skip
    for name, row in out.items():
        print(f"capacity {name}: {row}", flush=True)
    return out


def capacity_report(c: dict[str, Any]) -> str:
    cap, edge, index = c["cap"], c["edge"], c["index"]
    return (
        "\n## Capacity model (tests/support/capacity.py in front of DynamoDB Local)\n\n"
        "The model charges write units from the real item sizes (and the indexes a touch writes), and throttles per "
        "statement when a partition's token bucket (1 s of burst) runs dry. No emulated round trip. The partition is "
        "scaled down to 100 WCU/s (the emulator behind the proxy takes little more), so what is in flight when the "
        "first throttles come back weighs ten times what it does against 1,000 WCU/s: the first partition row scales "
        "the concurrency down with it.\n\n"
        "| run | measured | ratio |\n| --- | --- | ---: |\n"
        f"| cap held: 600 items of ~4 KB (5 WCU), MAX_WCU_PER_SECOND={cap['cap']:g}, concurrency 8 | worst 1-s window "
        f"{cap['worst']:.0f} WCU; overall {cap['units'] / cap['seconds']:.1f} WCU/s ({cap['units']:.0f} units, summary "
        f"{cap['reported']:.0f}) | max window / cap {cap['worst'] / cap['cap']:.2f}; overall / cap "
        f"{cap['units'] / cap['seconds'] / cap['cap']:.3f} |\n"
        + edge_row(
            edge[1],
            "CONCURRENCY=1: 25 statements in flight, 0.25 s of the partition, as the default 8 x 25 "
            "is of a real 1,000 WCU/s partition",
        )
        + edge_row(edge[8], "default CONCURRENCY=8: 200 statements in flight, 2 s of this scaled-down partition")
        + f"| index amplification: a date run of 1,000 items of ~1.5 KB | WCU per item: KEYS_ONLY index "
        f"{index['KEYS_ONLY']['per_item']:.2f} (dry-run estimate {index['KEYS_ONLY']['estimated']:.2f}), ALL index "
        f"{index['ALL']['per_item']:.2f} (estimate {index['ALL']['estimated']:.2f}) | "
        f"{index['ALL']['per_item'] / index['KEYS_ONLY']['per_item']:.2f}x |\n"
    )


def report(rows: list[dict[str, Any]], rtt_ms: float) -> str:
    lines = [
        "# Benchmark: worker vs seed script vs server limit",
        "",
        f"Measured by `make bench` on {platform.node() or 'this machine'} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}), DynamoDB Local 3.3.1, ~200-byte items in one partition, emulated round trip "
        f"{rtt_ms:g} ms per request for the seed port and the worker (none for the server limit).",
        "",
        f"Each contender runs in its own process; the server limit and the worker run {ROUNDS} times, alternately,",
        "after a warm-up of the emulator: the median run is shown, with the range of the three. The seed port runs",
        f"only at the smallest size (at most {SEED_MAX} items; its rate does not depend on the size): larger sizes",
        "repeat that row.",
        "",
        "| items | contender | items/s (median) | range of runs | client CPU ms/item | peak RSS MB |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['size']} | {r['kind']} | {r['items_per_s']:.0f} | {r.get('range', '')} | "
                     f"{r['cpu_ms_per_item']:.3f} | {r['max_rss_kb'] / 1024:.1f} |")  # fmt: skip
    lines += ["", "| items | worker / seed | worker / server limit |", "| ---: | ---: | ---: |"]
    by = {(r["size"], r["kind"]): r for r in rows}
    sizes = sorted({r["size"] for r in rows})
    for size in sizes:
        w = by[(size, "worker")]["items_per_s"]
        lines.append(f"| {size} | {w / by[(size, 'seed')]['items_per_s']:.1f}x | "
                     f"{w / by[(size, 'limit')]['items_per_s']:.2f} |")  # fmt: skip
    if len(sizes) >= 2:
        growth = (by[(sizes[-1], "worker")]["max_rss_kb"] - by[(sizes[0], "worker")]["max_rss_kb"]) / 1024
        lines += ["", f"Worker peak RSS growth from {sizes[0]} to {sizes[-1]} items: {growth:.1f} MB."]
    return "\n".join(lines) + "\n"


def differential_report(cpu: dict[tuple[int, str], float]) -> str:
    """CPU per item of the whole process without its fixed costs (imports, the client, preflight): the difference of
    the median CPU (getrusage: user + system) between the smallest and the largest size, per item of difference."""
    sizes = sorted({size for size, _ in cpu})
    if len(sizes) < 2:
        return ""
    small, large = sizes[0], sizes[-1]
    lines = ["", f"CPU per item, whole process (getrusage, user + system), {small} vs {large} items: the difference "
             "of the median runs' CPU seconds over the difference in items (the fixed start-up cost cancels out):", "",
             "| contender | CPU ms/item (differential) |", "| --- | ---: |"]  # fmt: skip
    for kind in ("limit", "worker"):
        per_item = 1000 * (cpu[(large, kind)] - cpu[(small, kind)]) / (large - small)
        lines.append(f"| {kind} | {per_item:.3f} |")
        print(f"{kind} CPU ms/item, {small} vs {large} differential: {per_item:.3f}", flush=True)
    return "\n".join(lines) + "\n"


CACHE = ROOT / ".cache" / "dynamodb-local"
# --only NAME: the section's heading in results.md, and what writes it
SECTIONS: dict[str, tuple[str, Any]] = {
    "capacity": ("\n## Capacity model", lambda _args: capacity_report(measure_capacity())),
    "export": ("\n## Export as the key source", lambda args: export_report(
        measure_export(args.export, CACHE, measure, args.rtt_ms), args.rtt_ms)),
}  # fmt: skip


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--rtt-ms", type=float, default=5.0)
    parser.add_argument("--seed-max", type=int, default=SEED_MAX, help="the seed port runs on at most this many items")
    parser.add_argument("--whole-table", type=int, default=50000, help="items of the whole-table run (0: skip)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    parser.add_argument("--export", type=int, default=100_000, help="keys of the export run (0: skip)")
    parser.add_argument("--only", choices=list(SECTIONS), help="run only this part; its section of --out is replaced")
    args = parser.parse_args()
    if args.only:
        heading, produce = SECTIONS[args.only]
        old = args.out.read_text() if args.out.exists() else ""
        before, _, rest = old.partition(heading)
        after = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        args.out.write_text(before.rstrip("\n") + "\n" + produce(args) + after)
        print(args.out.read_text())
        return 0
    rows: list[dict[str, Any]] = []
    cpu: dict[tuple[int, str], float] = {}
    for size in args.sizes:
        # A fresh emulator per size: DynamoDB Local slows down on a second table once a first one has a long stream.
        with local.dynamodb_local(ROOT / ".cache" / "dynamodb-local") as endpoint:
            table = load(endpoint, size)
            warm_up(endpoint, table, size)
            runs: dict[str, list[dict[str, Any]]] = {}
            order = ["limit", "worker"] * ROUNDS
            if size <= args.seed_max:
                order.insert(0, "seed")
            for kind in order:
                r = measure(kind, endpoint, table, size, args.rtt_ms / 1000)
                print(f"{size:>6} {kind:<7} {r['items_per_s']:8.0f} items/s  {r['cpu_ms_per_item']:.3f} ms CPU/item  "
                      f"{r['max_rss_kb'] / 1024:.1f} MB", flush=True)  # fmt: skip
                runs.setdefault(kind, []).append(r)
            if "seed" not in runs:  # its rate does not depend on the size: the smallest size's run stands in
                runs["seed"] = [next(x for x in rows if x["kind"] == "seed")]
            rows += [{**median(runs[k]), "size": size, "kind": k} for k in ("seed", "limit", "worker")]
            for k in ("limit", "worker"):  # the median CPU of the runs, for the differential (robust on a busy host)
                cpu[(size, k)] = sorted(r["cpu_s"] for r in runs[k])[len(runs[k]) // 2]
    caps = measure_caps(args.rtt_ms)
    whole = measure_whole_table(args.whole_table, args.rtt_ms) if args.whole_table else None
    text = report(rows, args.rtt_ms) + differential_report(cpu) + cap_report(caps)
    text += whole_table_report(whole, args.whole_table, args.rtt_ms) if whole else ""
    text += capacity_report(measure_capacity())
    text += SECTIONS["export"][1](args) if args.export else ""
    args.out.write_text(text)
    print("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
