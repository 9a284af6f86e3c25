"""boto3 clients of the worker, and the DynamoDB actions it calls (Terraform's task role grants exactly these)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client

# Every DynamoDB action the worker calls, and on what. Terraform's task role grants exactly these (a test compares).
DYNAMODB_ACTIONS: dict[str, str] = {
    "dynamodb:DescribeTable": "table",  # preflight (table.describe)
    "dynamodb:DescribeKinesisStreamingDestination": "table",  # preflight: the consumers; the stream if none
    "dynamodb:Query": "table and indexes",  # the selection (sources/partition.py, index_dates.py)
    "dynamodb:PartiQLUpdate": "table",  # the touch: UPDATE statements in BatchExecuteStatement (touch.Toucher)
    "dynamodb:Scan": "table, only for ALL_ITEMS",  # the whole-table selection (sources/whole_table.py)
}
# Granted only when a feature is enabled (Terraform: allow_full_table_scan).
OPTIONAL_DYNAMODB_ACTIONS = frozenset({"dynamodb:Scan"})
# CHANGED_FROM (sources/_incremental.py): granted only with Terraform's export_s3_prefix.
EXPORT_ACTIONS = frozenset({"dynamodb:ExportTableToPointInTime", "dynamodb:DescribeContinuousBackups",
                            "dynamodb:DescribeExport", "dynamodb:ListExports"})  # fmt: skip
# FAILED_BATCHES_FROM reads a failed batch's records back from the table's stream: granted only when failed batches are
# enabled (Terraform's failure_queue_arns or failed_batches_s3_prefix).
STREAM_READ_ACTIONS = frozenset({"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"})
# FAILED_BATCHES_FROM naming an on-failure queue (sources/_sqs.py): granted only on Terraform's failure_queue_arns.
# The stream's consumers (consumers.py, consumer_lag.py): listing a stream's event source mappings and reading metrics
# cannot be limited to one resource (both need "*"). Reads only.
CONSUMER_ACTIONS = frozenset({"lambda:ListEventSourceMappings", "cloudwatch:GetMetricData"})
FAILURE_QUEUE_ACTIONS = frozenset({"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
                                   "sqs:GetQueueAttributes"})  # fmt: skip


CONNECT_TIMEOUT_S = 3  # a stop (SIGTERM) waits at most one call: short timeouts keep it well inside ECS's stopTimeout
READ_TIMEOUT_S = 10  # DynamoDB answers in milliseconds; a longer wait is a lost answer, which the engine handles


def dynamodb_client(region: str, max_connections: int = 10, *, writes: bool = False) -> DynamoDBClient:
    """A DynamoDB client: short timeouts, a pool sized for the concurrency.

    Reads (DescribeTable, Query, Scan) keep botocore's standard retries (AWS_MAX_ATTEMPTS still applies). The client
    the touches are written with (`writes=True`) makes one attempt only: botocore would resend a write whose answer
    was lost (a read timeout, a closed connection) although it may have been applied; the engine owns resends, and
    makes them only when the marker makes them safe. It also skips botocore's client-side parameter validation, which
    walks every statement's parameters against the API model on each request (about a tenth of the worker's CPU per
    item): the statements are built by touch.Toucher in one fixed shape, their length is checked once in preflight
    (limits.py), and DynamoDB itself refuses a malformed request (ValidationException, which the engine splits). The
    endpoint comes from boto3's own AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB.
    """
    retries: dict[str, Any] = {"mode": "standard", "total_max_attempts": 1} if writes else {"mode": "standard"}
    config = Config(
        retries=retries,  # type: ignore[arg-type]
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        max_pool_connections=max_connections,
        parameter_validation=not writes,
        user_agent_appid="ddb-stream-rerun",  # type: ignore[call-arg]  # newer than the stubs
    )
    with _shared() as session:
        return session.client("dynamodb", region_name=region, config=config)


def s3_client(region: str) -> S3Client:
    """An S3 client for KEYS_FILE=s3://... (created only when such a file is given)."""
    with _shared() as session:
        return session.client("s3", region_name=region, config=Config(retries={"mode": "standard"}))


def streams_client(region: str) -> DynamoDBStreamsClient:
    """A DynamoDB Streams client for FAILED_BATCHES_FROM (reading a failed batch's records back from the stream)."""
    with _shared() as session:
        return session.client("dynamodbstreams", region_name=region, config=Config(retries={"mode": "standard"}))


def sqs_client(region: str) -> Any:
    """An SQS client for FAILED_BATCHES_FROM naming an on-failure queue (the queue URL's region). Typed Any: the
    project has no SQS type stubs (mypy-boto3-sqs) yet."""
    with _shared() as session:
        return session.client("sqs", region_name=region, config=Config(retries={"mode": "standard"}))


def lambda_client(region: str) -> LambdaClient:
    """A Lambda client for finding the stream's consumers (ListEventSourceMappings); AWS_ENDPOINT_URL_LAMBDA applies."""
    with _shared() as session:
        return session.client("lambda", region_name=region, config=_short_reads())


def cloudwatch_client(region: str) -> CloudWatchClient:
    """A CloudWatch client for the consumers' IteratorAge (GetMetricData); AWS_ENDPOINT_URL_CLOUDWATCH applies."""
    with _shared() as session:
        return session.client("cloudwatch", region_name=region, config=_short_reads())


_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


@contextlib.contextmanager
def _shared() -> Iterator[boto3.session.Session]:
    """The process's one boto3 session, for making a client. A session of its own per client loaded the endpoint rules
    and the service's model from disk again each time: 0.3-0.4 s of the preflight for the four clients every run
    makes, 0.1 s with one session. Clients are thread-safe, a session is not: they are made one at a time. Each new
    client still reads the endpoint (AWS_ENDPOINT_URL_*), the retry settings and the CA bundle from the environment."""
    global _session  # noqa: PLW0603 - made on first use, for the life of the process
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        yield _session


def _short_reads() -> Config:
    """Standard retries, short timeouts: a read about the consumers never holds up a stop."""
    return Config(retries={"mode": "standard"}, connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S)
