"""The bench driver's shared parts: running a contender in a child process with a clean environment, loading
tables quickly, medians, and the machine's load (a wall-clock number measured under load must say so)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

from stream_rerun.config import Settings
from stream_rerun_dev import emulator as local

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "dynamodb-local"
PARTITION = "bench"
AWS_ENDPOINTS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any worker variable or endpoint (an earlier in-process run, or the shell,
    must not add a second selection to a child's), plus `extra`."""
    drop = {*Settings.env_names(), *AWS_ENDPOINTS}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def start(kind: str, endpoint: str, table: str, rtt_s: float, **env: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "bench.contenders", kind, endpoint, table, str(rtt_s)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=clean_env(PYTHONPATH=str(ROOT), **env))  # fmt: skip


def result_of(kind: str, proc: subprocess.Popen[str], size: int | None) -> dict[str, Any]:
    """The child's JSON line, with items/s and CPU ms/item; SystemExit with its stderr when it failed."""
    out, err = proc.communicate()
    if proc.returncode != 0 or not out.strip():
        raise SystemExit(f"{kind} failed (exit {proc.returncode}):\n{err[-3000:]}{out[-2000:]}")
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    if size is not None and result["items"] != size:
        raise SystemExit(f"{kind} wrote {result['items']} of {size} items")
    result["items_per_s"] = result["items"] / result["elapsed_s"]
    result["cpu_ms_per_item"] = 1000 * result["cpu_s"] / max(result["items"], 1)
    return result


def measure(kind: str, endpoint: str, table: str, size: int, rtt_s: float, **env: str) -> dict[str, Any]:
    """One contender in a child process of its own; it must write exactly `size` items."""
    return result_of(kind, start(kind, endpoint, table, rtt_s, **env), size)


def put_parallel(endpoint: str, table: str, items: Iterable[dict[str, Any]], threads: int = 8) -> int:
    """BatchWriteItem the items from `threads` threads (the emulator takes several at once), 250 a task."""
    client = local.ddb(endpoint)
    items = iter(items)
    total = 0
    with ThreadPoolExecutor(threads) as pool:
        while chunks := [c for c in (list(islice(items, 250)) for _ in range(threads * 4)) if c]:
            total += sum(pool.map(lambda chunk: local.put_items(client, table, chunk), chunks))
    return total


def load(endpoint: str, size: int, partitions: int = 1) -> str:
    """A table of `size` ~200-byte items in `partitions` partitions (one: all in the PARTITION partition)."""
    client = local.ddb(endpoint)
    table = f"bench-{size}-{partitions}"
    local.create_table(client, table, date_index=None)
    pad = "x" * 150  # ~200 bytes with keys, revision and names
    names = [PARTITION] if partitions == 1 else [f"p{n:04}" for n in range(partitions)]
    items = ({"pk": {"S": names[n % partitions]}, "sk": {"S": f"{n:08}"}, "revision": {"N": "1"}, "data": {"S": pad}}
             for n in range(size))  # fmt: skip
    put_parallel(endpoint, table, items)
    return table


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run by items/s, with the range of all runs."""
    ordered = sorted(runs, key=lambda r: r["items_per_s"])
    low, high = ordered[0]["items_per_s"], ordered[-1]["items_per_s"]
    return {**ordered[len(ordered) // 2], "range": f"{low:.0f}-{high:.0f}" if len(runs) > 1 else ""}


def load_note() -> str:
    """The machine's load average now: a wall-clock rate measured while other work runs says less."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} cores"
