"""`make bench`'s capacity-model rows: the worker against tests/support/capacity.py (a proxy in front of DynamoDB
Local that charges write units from the real item sizes and throttles per partition), in this process."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

from bench.measure import CACHE, PARTITION
from tests.support.capacity import CapacityModel, CapacityProxy  # the test suite's model (make bench: PYTHONPATH=.)

from stream_rerun.__main__ import run
from stream_rerun.config import Settings, load_settings
from stream_rerun.log import configure_logging
from stream_rerun_dev import emulator as local

ROUNDS = 3


def in_process(endpoint: str, table: str, **variables: str) -> dict[str, Any]:
    """The worker in this process (the proxy lives here too), its summary line returned; the environment as it
    was afterwards."""
    saved = dict(os.environ)
    for name in Settings.env_names():
        os.environ.pop(name, None)
    os.environ.update(local.worker_env(endpoint, TABLE_NAME=table, LOG_LEVEL="WARNING", **variables))
    try:
        settings = load_settings()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            configure_logging(settings.log_level, settings.run_id, table)
            run(settings)
    finally:
        os.environ.clear()
        os.environ.update(saved)
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
    """The cap, the partition-limited runs and the index amplification, each in an emulator of its own."""
    out: dict[str, Any] = {}
    with local.dynamodb_local(CACHE) as endpoint, CapacityProxy(endpoint) as proxy:
        table = load_sized(endpoint, "cap-4kb", 600, 4100)  # 5 units a touch, 3,000 units: 12 s at 250 WCU/s
        summary = in_process(proxy.endpoint, table, HASH_KEY_VALUE=PARTITION, MAX_WCU_PER_SECOND="250")
        units, seconds = proxy.rate()
        out["cap"] = {"cap": 250.0, "units": units, "seconds": seconds, "worst": proxy.max_window(1.0),
                      "reported": summary["consumed_wcu"]}  # fmt: skip
    out["edge"] = {concurrency: partition_limited(CACHE, concurrency) for concurrency in (8, 1)}
    out["index"] = {}
    for projection in ("KEYS_ONLY", "ALL"):
        with local.dynamodb_local(CACHE) as endpoint, CapacityProxy(endpoint) as proxy:
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
        "first throttles come back weighs ten times what it does against 1,000 WCU/s. The worker sizes its requests "
        "so that those in flight hold about 0.2 s of its rate together: one request of up to 20 statements at "
        "CONCURRENCY=1, eight of 2 at the default 8, at this partition's 100 WCU/s.\n\n"
        "| run | measured | ratio |\n| --- | --- | ---: |\n"
        f"| cap held: 600 items of ~4 KB (5 WCU), MAX_WCU_PER_SECOND={cap['cap']:g}, concurrency 8 | worst 1-s window "
        f"{cap['worst']:.0f} WCU; overall {cap['units'] / cap['seconds']:.1f} WCU/s ({cap['units']:.0f} units, summary "
        f"{cap['reported']:.0f}) | max window / cap {cap['worst'] / cap['cap']:.2f}; overall / cap "
        f"{cap['units'] / cap['seconds'] / cap['cap']:.3f} |\n"
        + edge_row(
            edge[1],
            "CONCURRENCY=1: one request in flight",
        )
        + edge_row(edge[8], "default CONCURRENCY=8: eight requests in flight")
        + f"| index amplification: a date run of 1,000 items of ~1.5 KB | WCU per item: KEYS_ONLY index "
        f"{index['KEYS_ONLY']['per_item']:.2f} (dry-run estimate {index['KEYS_ONLY']['estimated']:.2f}), ALL index "
        f"{index['ALL']['per_item']:.2f} (estimate {index['ALL']['estimated']:.2f}) | "
        f"{index['ALL']['per_item'] / index['KEYS_ONLY']['per_item']:.2f}x |\n"
    )
