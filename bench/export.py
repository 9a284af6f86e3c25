"""`make bench`'s export rows: the worker reading a DynamoDB export (gzipped data files and manifests, in the layout
ExportTableToPointInTime writes, made by tests/support/exports.py) as its key source, on DynamoDB Local.

Two runs on the same table, each in its own process: the first 10% of the data files, then all of them. Peak RSS of
both shows whether memory grows with the export (it should not: the files are streamed).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.measure import CACHE, measure, put_parallel
from tests.support.exports import write_export  # the test suite's export layout (make bench: PYTHONPATH=.)

from stream_rerun_dev import emulator as local

FILES = 20  # AWS writes at least one data file per partition; 20 of 5,000 keys for 100,000 items


def data_file(number: int, per_file: int) -> Iterator[dict[str, Any]]:
    """The items of data file `number`: ~200 bytes each, over 1,000 partitions. Generated, never all held."""
    pad = "x" * 150
    for n in range(number * per_file, (number + 1) * per_file):
        yield {"pk": {"S": f"p{n % 1000:04}"}, "sk": {"S": f"{n:08}"}, "revision": {"N": "1"}, "data": {"S": pad}}


def measure_export(size: int, rtt_ms: float) -> dict[str, Any]:
    """The worker over an export of the first 10% of the files, then of all `size` items."""
    per_file = size // FILES
    out: dict[str, Any] = {}
    with local.dynamodb_local(CACHE) as endpoint, tempfile.TemporaryDirectory() as root:
        client = local.ddb(endpoint)
        local.create_table(client, "export-bench", date_index=None)
        put_parallel(endpoint, "export-bench", (i for f in range(FILES) for i in data_file(f, per_file)))
        for name, files in (("tenth", FILES // 10), ("all", FILES)):
            share = (data_file(f, per_file) for f in range(files))
            folder = write_export(Path(root) / name, "export-bench", share)
            count = files * per_file
            result = measure("export", endpoint, "export-bench", count, rtt_ms / 1000, BENCH_KEYS_FILE=str(folder))
            out[name] = {**result, "size": count}
            print(f"{count:>6} export  {out[name]['items_per_s']:8.0f} items/s  {out[name]['cpu_ms_per_item']:.3f} "
                  f"ms CPU/item  {out[name]['max_rss_kb'] / 1024:.1f} MB", flush=True)  # fmt: skip
    return out


def export_report(r: dict[str, Any], rtt_ms: float) -> str:
    rows = "".join(f"| {x['size']} | {x['items_per_s']:.0f} | {x['cpu_ms_per_item']:.3f} | "
                   f"{x['max_rss_kb'] / 1024:.1f} |\n" for x in (r["tenth"], r["all"]))  # fmt: skip
    growth = (r["all"]["max_rss_kb"] - r["tenth"]["max_rss_kb"]) / 1024
    return (
        "\n## Export as the key source (KEYS_FILE = an export's folder)\n\n"
        f"An export of ~200-byte items in {FILES} gzipped data files (the first {FILES // 10} of them for the smaller "
        f"run), one task, default settings, {rtt_ms:g} ms emulated round trip:\n\n"
        "| keys | items/s | client CPU ms/item | peak RSS MB |\n| ---: | ---: | ---: | ---: |\n"
        f"{rows}\nPeak RSS growth for 10x the keys: {growth:+.1f} MB.\n"
    )
