"""Lambda on-failure records for the FAILED_BATCHES_FROM tests, built from DynamoDB Local's real stream records (its
shard ids and sequence numbers), and an SQS queue on the loopback moto server to hold them.

The record's shape is AWS's, from the Lambda Developer Guide, "Retaining discarded records for a DynamoDB event
source in Lambda" (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html), its "Example
invocation record": requestContext (requestId, functionArn, condition, approximateInvokeCount), responseContext
(statusCode, executedVersion, functionError), version, timestamp and DDBStreamBatchInfo (shardId,
startSequenceNumber, endSequenceNumber, approximateArrivalOfFirstRecord, approximateArrivalOfLastRecord, batchSize,
streamArn). SQS and SNS destinations get only that; an S3 destination also gets the invocation's event as `payload`
(the page says S3 receives the whole invocation record; it shows no S3 example, so `payload` here is the event as
a JSON string, and the worker also accepts it as an object).

moto stands in for SQS only as storage (ReceiveMessage, ChangeMessageVisibility, DeleteMessage); it does not model
SQS's at-least-once delivery or short-polling misses. What reaches the table's stream is DynamoDB Local's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from stream_rerun_dev.emulator import DUMMY_CREDENTIALS

Record = dict[str, Any]


def _arrival(record: Record) -> str:
    when = record["dynamodb"].get("ApproximateCreationDateTime")
    moment = when if isinstance(when, datetime) else datetime.fromtimestamp(float(when or 0), UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def on_failure_record(stream_arn: str, shard: str, records: list[Record], *, payload: bool = False,
                      start: str | None = None, end: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The record Lambda sends for a failed batch of `records` (consecutive records of one shard); `payload` adds
    the invocation's event as an S3 destination does; `start`/`end` override the sequence range."""
    out: dict[str, Any] = {
        "requestContext": {"requestId": str(uuid.uuid4()),
                           "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:indexer",
                           "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": start or records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": end or records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _arrival(records[0]),
            "approximateArrivalOfLastRecord": _arrival(records[-1]),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }  # fmt: skip
    if payload:
        event = {
            "Records": [
                {
                    "eventName": r["eventName"],
                    "eventSourceARN": stream_arn,
                    "dynamodb": {"Keys": r["dynamodb"]["Keys"], "SequenceNumber": r["dynamodb"]["SequenceNumber"]},
                }
                for r in records
            ]
        }
        out["payload"] = json.dumps(event)  # fmt: skip
    return out


def shard_records(endpoint: str, ddb: Any, table: str) -> tuple[str, str, list[Record]]:
    """The table's stream ARN, its (first) shard id and that shard's records, read from DynamoDB Local."""
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, **DUMMY_CREDENTIALS)  # type: ignore[call-overload]
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records: list[Record] = []
    while it:
        page = streams.get_records(ShardIterator=it, Limit=1000)
        records.extend(page["Records"])
        it = page.get("NextShardIterator") if page["Records"] else None
    return arn, shard, records


def sqs_client(endpoint: str) -> Any:
    """An SQS client of the loopback moto server, in the worker's region (moto keeps queues per region)."""
    return boto3.client("sqs", endpoint_url=endpoint, **DUMMY_CREDENTIALS)  # type: ignore[call-overload]


@pytest.fixture
def queue(s3_endpoint: str) -> Callable[[list[dict[str, Any]]], str]:
    """Make a queue on the loopback moto server (the one `s3_endpoint` runs: it answers every service) holding one
    message per record; returns its URL."""

    def make(records: list[dict[str, Any]]) -> str:
        sqs = sqs_client(s3_endpoint)
        url = str(sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:12]}")["QueueUrl"])
        for record in records:
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
        return url

    return make


def bodies(endpoint: str, url: str) -> list[dict[str, Any]]:
    """The messages visible in the queue now (received, then made visible again at once)."""
    sqs, found, handles = sqs_client(endpoint), [], []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            break
        found += [json.loads(m["Body"]) for m in got]
        handles += [m["ReceiptHandle"] for m in got]
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return found
