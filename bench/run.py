"""`make bench`: the worker against the seed's script and against the server's own limit on DynamoDB Local, the rate
caps, a whole table, the capacity model, an export as the key source and a window of changes over 3 workers; all
written to bench/results.md in one run. `make bench BENCH_ARGS="..."` for quicker variants, e.g.

    make bench BENCH_ARGS="--sizes 2000 5000 --skip capacity export window --out /tmp/results.md"
    make bench BENCH_ARGS="--only window --window 10000"   # one section, replaced in place in --out

Every contender runs in a child process of its own (bench/contenders.py) against the same table shape (~200-byte
items). The machine's load average is written beside the numbers: a wall-clock rate measured while other work runs
says less than one measured on a quiet machine; CPU per item is steadier.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.capacity_model import capacity_report, measure_capacity
from bench.contenders import CAP
from bench.export import export_report, measure_export
from bench.measure import CACHE, ROOT, load, load_note, measure, median
from bench.window import measure_window, window_report

from stream_rerun_dev import emulator as local

ROUNDS = 5
SEED_MAX = 2000


# ---- worker vs seed vs server limit ----
def warm_up(endpoint: str, table: str, size: int) -> None:
    """Run the server limit until the emulator's JVM stops getting faster (< 5% gain, at most 3 runs)."""
    last = 0.0
    for _ in range(3):
        rate = measure("limit", endpoint, table, size, 0)["items_per_s"]
        if rate < last * 1.05:
            return
        last = max(last, rate)


def measure_main(sizes: list[int], rtt_ms: float, seed_max: int) -> tuple[list[dict[str, Any]], dict[Any, float]]:
    rows: list[dict[str, Any]] = []
    cpu: dict[tuple[int, str], float] = {}
    for size in sizes:
        # A fresh emulator per size: DynamoDB Local slows down on a second table once a first one has a long stream.
        with local.dynamodb_local(CACHE) as endpoint:
            table = load(endpoint, size)
            warm_up(endpoint, table, size)
            runs: dict[str, list[dict[str, Any]]] = {}
            order = ["limit", "worker"] * ROUNDS
            if size <= seed_max:
                order.insert(0, "seed")
            for kind in order:
                r = measure(kind, endpoint, table, size, rtt_ms / 1000)
                first = f"  first 5 s {r['first_items_per_s']:.0f}/s" if r.get("first_items_per_s") else ""
                first += f", steady from {r['steady_at_s']:.1f} s" if r.get("steady_at_s") is not None else ""
                print(f"{size:>6} {kind:<7} {r['items_per_s']:8.0f} items/s  {r['cpu_ms_per_item']:.3f} ms CPU/item  "
                      f"{r['max_rss_kb'] / 1024:.1f} MB{first}", flush=True)  # fmt: skip
                runs.setdefault(kind, []).append(r)
            if "seed" not in runs:  # its rate does not depend on the size: the smallest size's run stands in
                runs["seed"] = [next(x for x in rows if x["kind"] == "seed")]
            rows += [{**median(runs[k]), "size": size, "kind": k} for k in ("seed", "limit", "worker")]
            for k in ("limit", "worker"):  # the median CPU of the runs, for the differential (robust on a busy host)
                cpu[(size, k)] = sorted(r["cpu_s"] for r in runs[k])[len(runs[k]) // 2]
            for field in ("first_items_per_s", "steady_at_s"):  # the median run's start
                starts = sorted(r[field] for r in runs["worker"] if r.get(field) is not None)
                rows[-1][field] = starts[len(starts) // 2] if starts else None
    return rows, cpu


def main_report(rows: list[dict[str, Any]], rtt_ms: float) -> str:
    lines = [
        "## Worker vs seed script vs server limit",
        "",
        f"~200-byte items in one partition, emulated round trip {rtt_ms:g} ms per request for the seed port and the "
        "worker (none for the server limit, which sends the same 25-statement requests through the worker's own "
        "write client and touch from 16 threads, its keys read beforehand).",
        "",
        f"Each contender runs in its own process; the server limit and the worker run {ROUNDS} times, alternately, "
        "after a warm-up of the emulator: the median run is shown, with the range of the runs. The seed port runs "
        "only at the smallest size (its rate does not depend on the size): larger sizes repeat that row. Items/s is "
        "the whole run (preflight included for the worker); the start is read from the worker's progress lines, "
        'written every 0.5 s in the bench: its rate over its first 5 s, and "steady from", the time into the run '
        "(from its first read, after preflight) of the first half second at 90% of its steady rate (its median half "
        "second).",
        "",
        "| items | contender | items/s (median) | range of runs | client CPU ms/item | peak RSS MB |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['size']} | {r['kind']} | {r['items_per_s']:.0f} | {r.get('range', '')} | "
                     f"{r['cpu_ms_per_item']:.3f} | {r['max_rss_kb'] / 1024:.1f} |")  # fmt: skip
    lines += ["", "| items | worker / seed | worker / server limit | worker's first 5 s / server limit | steady from |",
              "| ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    by = {(r["size"], r["kind"]): r for r in rows}
    sizes = sorted({r["size"] for r in rows})
    for size in sizes:
        w, limit = by[(size, "worker")], by[(size, "limit")]["items_per_s"]
        first = w.get("first_items_per_s")
        start = f"{first / limit:.2f} ({first:.0f} items/s)" if first else "(run shorter than 5 s)"
        steady = f"{w['steady_at_s']:.1f} s" if w.get("steady_at_s") is not None else ""
        lines.append(f"| {size} | {w['items_per_s'] / by[(size, 'seed')]['items_per_s']:.1f}x | "
                     f"{w['items_per_s'] / limit:.2f} | {start} | {steady} |")  # fmt: skip
    if len(sizes) >= 2:
        growth = (by[(sizes[-1], "worker")]["max_rss_kb"] - by[(sizes[0], "worker")]["max_rss_kb"]) / 1024
        lines += ["", f"Worker peak RSS growth from {sizes[0]} to {sizes[-1]} items: {growth:+.1f} MB."]
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


# ---- rate caps, whole table ----
def measure_caps(rtt_ms: float) -> list[dict[str, Any]]:
    """Each cap over 12 x CAP items (12 s when the cap holds), in an emulator of its own: the rate achieved."""
    items, out = int(12 * CAP), []
    with local.dynamodb_local(CACHE) as endpoint:
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
        "its estimate of 1 WCU per ~200-byte item; on AWS the reported units correct it). The run's rate is the "
        "worker's own summary (from its first write on); the process's includes its start-up and preflight. Without "
        "a WCU cap the adaptive rate still starts slow (from 100 WCU/s), which the items cap's row shows:",
        "",
        "| cap | items | seconds (process) | achieved /s (process) | achieved /s (run) | run off by |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in caps:
        name = "MAX_ITEMS_PER_SECOND" if r["kind"] == "items_cap" else "MAX_WCU_PER_SECOND"
        run = r.get("run_items_per_s") or r["items_per_s"]
        lines.append(f"| {name}={CAP:g} | {r['size']} | {r['elapsed_s']:.1f} | {r['items_per_s']:.1f} | {run:.1f} | "
                     f"{100 * (run - CAP) / CAP:+.1f}% |")  # fmt: skip
    return "\n".join(lines) + "\n"


def measure_whole_table(size: int, rtt_ms: float) -> dict[str, Any]:
    """ALL_ITEMS over `size` items in 1,000 partitions: one warm-up pass, then the measured one."""
    with local.dynamodb_local(CACHE) as endpoint:
        table = load(endpoint, size, partitions=1000)
        measure("whole", endpoint, table, size, rtt_ms / 1000)  # warm-up (its own RUN_ID: it touches everything)
        r = measure("whole", endpoint, table, size, rtt_ms / 1000)
    print(f"{size:>6} whole   {r['items_per_s']:8.0f} items/s  {r['cpu_ms_per_item']:.3f} ms CPU/item  "
          f"{r['max_rss_kb'] / 1024:.1f} MB", flush=True)  # fmt: skip
    return {**r, "size": size}


def whole_table_report(r: dict[str, Any], rtt_ms: float) -> str:
    return (
        f"\n## Whole table (ALL_ITEMS=true)\n\n{r['size']} items in 1,000 partitions, default settings (one task, "
        f"TOTAL_SEGMENTS derived: 1), {rtt_ms:g} ms emulated round trip, after one warm-up pass:\n\n"
        "| items | items/s | client CPU ms/item | peak RSS MB |\n| ---: | ---: | ---: | ---: |\n"
        f"| {r['size']} | {r['items_per_s']:.0f} | {r['cpu_ms_per_item']:.3f} | {r['max_rss_kb'] / 1024:.1f} |\n"
    )


# ---- the sections, in results.md's order ----
def _main_section(args: argparse.Namespace) -> str:
    rows, cpu = measure_main(args.sizes, args.rtt_ms, args.seed_max)
    return main_report(rows, args.rtt_ms) + differential_report(cpu)


SECTIONS: dict[str, tuple[str, Callable[[argparse.Namespace], str]]] = {
    "main": ("## Worker vs seed script", _main_section),
    "caps": ("## Rate caps", lambda a: cap_report(measure_caps(a.rtt_ms))),
    "whole": ("## Whole table", lambda a: whole_table_report(measure_whole_table(a.whole_table, a.rtt_ms), a.rtt_ms)),
    "capacity": ("## Capacity model", lambda _a: capacity_report(measure_capacity())),
    "export": ("## Export as the key source", lambda a: export_report(measure_export(a.export, a.rtt_ms), a.rtt_ms)),
    "window": ("## A window of changes", lambda a: window_report(measure_window(a.window, a.rtt_ms), a.rtt_ms,
                                                                   load_note())),
}  # fmt: skip


def header(seconds: float, before: str, after: str, sections: dict[str, float]) -> str:
    parts = ", ".join(f"{name} {took:.0f} s" for name, took in sections.items())
    return (
        "# Benchmark: worker vs seed script vs server limit\n\n"
        f"Measured by `make bench` on {platform.node() or 'this machine'} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}), DynamoDB Local 3.3.1, in one run of {seconds / 60:.1f} minutes ({parts}). "
        f"Machine load when it started: {before}; when it ended: {after}. The machine is shared: with a load average "
        "above its core count, the wall-clock rates below are low and noisy (CPU per item is steadier).\n\n"
    )


def replace_section(text: str, heading: str, new: str) -> str:
    """`text` with the section starting at `heading` (to the next `## `) replaced by `new` (appended if absent)."""
    before, found, rest = text.partition("\n" + heading)
    if not found:
        return text.rstrip("\n") + "\n\n" + new.lstrip("\n")
    after = rest[rest.find("\n## ") :] if "\n## " in rest else ""
    return before.rstrip("\n") + "\n\n" + new.strip("\n") + "\n" + after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--rtt-ms", type=float, default=5.0)
    parser.add_argument("--seed-max", type=int, default=SEED_MAX, help="the seed port runs on at most this many items")
    parser.add_argument("--whole-table", type=int, default=20000, help="items of the whole-table run")
    parser.add_argument("--export", type=int, default=20_000, help="keys of the KEYS_FILE export run")
    parser.add_argument("--window", type=int, default=100_000, help="changed keys of the CHANGED_FROM window run")
    parser.add_argument("--skip", nargs="+", choices=list(SECTIONS), default=[], help="leave these sections out")
    parser.add_argument("--only", choices=list(SECTIONS), help="run only this section; it is replaced in --out")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args()
    began, before = time.monotonic(), load_note()
    names = [args.only] if args.only else [name for name in SECTIONS if name not in args.skip]
    parts, took = {}, {}
    for name in names:
        t0 = time.monotonic()
        parts[name] = SECTIONS[name][1](args)
        took[name] = time.monotonic() - t0
        print(f"-- {name}: {took[name]:.0f} s", flush=True)
    seconds = time.monotonic() - began
    if args.only:
        text = replace_section(args.out.read_text() if args.out.exists() else "", SECTIONS[args.only][0],
                               parts[args.only])  # fmt: skip
    else:
        text = header(seconds, before, load_note(), took) + "\n".join(p.strip("\n") + "\n" for p in parts.values())
    args.out.write_text(text)
    print("\n" + text)
    print(f"make bench took {seconds:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
