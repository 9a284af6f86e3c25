"""`make bench`'s window rows: CHANGED_FROM/CHANGED_TO over an incremental export of N changed keys, split over 3
worker processes (WORKER_INDEX/WORKER_COUNT), each with its items/s, CPU per item and peak RSS; a run of a tenth of
the keys beside it shows whether memory grows with the export (it should not: the data files are streamed).

The export is answered by the test suite's stand-in (tests/support/incremental_export.py: the same requests,
manifests, data-file layout and writer), except that each export's lines are made from the keys the bench seeded
rather than read back from DynamoDB Local's stream (reading 100,000 stream records from the emulator takes longer
than the run). The export goes to S3 on a loopback moto server. The workers' DynamoDB calls go to the stand-in,
which forwards all but the export calls to the emulator; their touches go to the emulator directly, as in AWS they
go to DynamoDB and not through anything of ours. The export is made once before the workers start (one dry-run
worker asks for it; the others find it by its ClientToken): in AWS an export takes minutes, and that wait is not the
workers' rate.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, overload

from bench.measure import CACHE, put_parallel, result_of, start
from moto.server import ThreadedMotoServer
from tests.support.incremental_export import IncrementalExports  # make bench: PYTHONPATH=.
from tests.support.s3 import s3_client

from stream_rerun_dev import emulator as local

WORKERS = 3
DATA_FILES = 12  # AWS writes a data file per partition of the key space; 4 for each worker here
PARTITIONS = 1000
PAD = "x" * 150  # ~200-byte items, as the other rows


def item(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"p{n % PARTITIONS:04}"}, "sk": {"S": f"{n:08}"}, "revision": {"N": "1"}, "data": {"S": PAD}}


class SeededLines(Sequence[dict[str, Any]]):
    """The export lines of items 0..count-1, made as they are read: never all held."""

    def __init__(self, count: int, micros: int) -> None:
        self.count, self.micros = count, micros

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        if not 0 <= index < self.count:
            raise IndexError(index)
        image = item(index)
        return {"Metadata": {"WriteTimestampMicros": {"N": str(self.micros)}},
                "Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image}  # fmt: skip

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(self.count))


class SeededExports(IncrementalExports):
    """The stand-in, its export lines made from the seeded keys: an export whose window starts at a time in `sizes`
    holds that many changed items."""

    def __init__(self, target: str, s3_endpoint: str, sizes: dict[datetime, int]) -> None:
        super().__init__(target, s3_endpoint, data_files=DATA_FILES)
        self.sizes = sizes

    def _date(self, table: str) -> list[dict[str, Any]]:
        return []  # no stream records are read: the lines come from the seeded keys

    def _lines(self, table: str, start: datetime, end: datetime) -> Any:
        return SeededLines(self.sizes[start], int(start.timestamp() * 1_000_000))


def measure_window(size: int, rtt_ms: float) -> dict[int, dict[str, Any]]:
    """Two CHANGED_FROM runs of WORKERS workers: a tenth of `size` changed keys, then `size`."""
    small = size // 10
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=local.free_port())
    moto.start()
    host, port = moto.get_host_and_port()
    s3_endpoint = f"http://{host}:{port}"
    out: dict[int, dict[str, Any]] = {}
    try:
        with local.dynamodb_local(CACHE) as endpoint:
            client = local.ddb(endpoint)
            local.create_table(client, "window", date_index=None)
            put_parallel(endpoint, "window", (item(n) for n in range(size)))
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            where = {"LocationConstraint": "eu-west-1"}
            s3_client(s3_endpoint).create_bucket(Bucket=bucket, CreateBucketConfiguration=where)
            sizes: dict[datetime, int] = {}
            with SeededExports(endpoint, s3_endpoint, sizes) as standin:
                since = standin.enable_pitr("window")
                standin.advance(timedelta(hours=2))
                for count, begin in ((small, since), (size, since + timedelta(hours=1))):
                    sizes[begin] = count
                    env = {"CHANGED_FROM": begin.isoformat(), "CHANGED_TO": (begin + timedelta(hours=1)).isoformat(),
                           "EXPORT_S3_URI": f"s3://{bucket}/exports/", "RUN_ID": f"window-{count}-{time.time_ns()}",
                           "WORKER_COUNT": str(WORKERS), "AWS_ENDPOINT_URL_S3": s3_endpoint,
                           "BENCH_WRITES_TO": endpoint}  # fmt: skip
                    rtt_s = rtt_ms / 1000
                    result_of("window", start("window", standin.endpoint, "window", rtt_s, DRY_RUN="true",
                                              WORKER_INDEX="0", **env), None)  # fmt: skip
                    procs = [start("window", standin.endpoint, "window", rtt_s, WORKER_INDEX=str(i), **env)
                             for i in range(WORKERS)]  # fmt: skip
                    runs = [result_of("window", p, None) for p in procs]
                    out[count] = summarise(runs, count)
                    print(f"{count:>6} window  {out[count]['items_per_s']:8.0f} items/s  "
                          f"{out[count]['cpu_ms_per_item']:.3f} ms CPU/item  peak RSS "
                          f"{out[count]['max_rss_mb']:.1f} MB (largest worker)", flush=True)  # fmt: skip
    finally:
        moto.stop()
    return out


def summarise(runs: list[dict[str, Any]], count: int) -> dict[str, Any]:
    items = sum(r["items"] for r in runs)
    if items != count:
        raise SystemExit(f"the window's {WORKERS} workers touched {items} of {count} items")
    wall = max(r["elapsed_s"] for r in runs)
    cpu = sum(r["cpu_s"] for r in runs)
    return {"size": count, "runs": runs, "items_per_s": items / wall, "elapsed_s": wall, "cpu_s": cpu,
            "cpu_ms_per_item": 1000 * cpu / items, "max_rss_mb": max(r["max_rss_kb"] for r in runs) / 1024}  # fmt: skip


def window_report(r: dict[int, dict[str, Any]], rtt_ms: float, load: str) -> str:
    small, large = sorted(r)
    lines = [
        f"\n## A window of changes (CHANGED_FROM/CHANGED_TO), {WORKERS} workers\n",
        f"An incremental export of {large:,} changed ~200-byte items in {DATA_FILES} gzipped data files (the "
        f"test suite's stand-in, its lines made from the seeded keys; S3 on a loopback moto server), read by "
        f"{WORKERS} worker processes at once (WORKER_INDEX 0-{WORKERS - 1}, WORKER_COUNT={WORKERS}: every "
        f"{WORKERS}rd data file each), default settings, {rtt_ms:g} ms emulated round trip; a run of {small:,} keys "
        f"beside it. Items/s: all workers' items over the slowest worker's time (the export made beforehand). "
        f"Measured with {load}.",
        "",
        "| changed keys | worker | items | seconds | items/s | CPU ms/item (whole process) | peak RSS MB |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for count in (small, large):
        run = r[count]
        for i, w in enumerate(run["runs"]):
            lines.append(f"| {count} | {i} | {w['items']} | {w['elapsed_s']:.1f} | {w['items_per_s']:.0f} | "
                         f"{w['cpu_ms_per_item']:.3f} | {w['max_rss_kb'] / 1024:.1f} |")  # fmt: skip
        lines.append(
            f"| {count} | **all {WORKERS}** | {count} | {run['elapsed_s']:.1f} | **{run['items_per_s']:.0f}** | "
            f"**{run['cpu_ms_per_item']:.3f}** | {run['max_rss_mb']:.1f} |"
        )
    growth = r[large]["max_rss_mb"] - r[small]["max_rss_mb"]
    differential = 1000 * (r[large]["cpu_s"] - r[small]["cpu_s"]) / (large - small)
    lines += [
        "",
        f"Peak RSS of the largest worker, {small:,} vs {large:,} keys: {growth:+.1f} MB. CPU per item without the "
        f"fixed start-up cost ({small:,} vs {large:,} differential, all workers): {differential:.3f} ms.",
    ]
    return "\n".join(lines) + "\n"
