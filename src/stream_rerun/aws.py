"""boto3 clients and the request-level error classes every caller shares (retryable, fatal, credentials)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from stream_rerun.errors import ConfigError, RerunError, RunAbortedError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Every DynamoDB action the worker calls, and on what. Terraform's task role grants exactly these (a test compares).
DYNAMODB_ACTIONS: dict[str, str] = {
    "dynamodb:DescribeTable": "table",  # preflight (table.describe)
    "dynamodb:DescribeKinesisStreamingDestination": "table",  # preflight, only when the table has no DynamoDB stream
    "dynamodb:Query": "table and indexes",  # the selection (selection.key_pages)
    "dynamodb:PartiQLUpdate": "table",  # the touch: UPDATE statements in BatchExecuteStatement (touch.Toucher)
    "dynamodb:Scan": "table, only for ALL_ITEMS",  # the whole-table selection (selection.scan_pages)
}
# Granted only when a feature is enabled (Terraform: allow_full_table_scan).
OPTIONAL_DYNAMODB_ACTIONS = frozenset({"dynamodb:Scan"})

# Request-level error codes worth another try after botocore's own retries gave up.
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)
# Codes that mean the caller's identity or permissions are wrong: fixing them is configuration.
_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "MissingAuthenticationTokenException",
        "AccessDeniedException",
    }
)


def dynamodb_client(region: str, max_connections: int = 10) -> DynamoDBClient:
    """A DynamoDB client: botocore standard retries, short connect timeout, a pool sized for the concurrency.

    The endpoint comes from boto3's own AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB; AWS_MAX_ATTEMPTS still applies.
    """
    config = Config(
        retries={"mode": "standard"},
        connect_timeout=5,
        read_timeout=20,
        max_pool_connections=max_connections,
        user_agent_appid="ddb-stream-rerun",  # type: ignore[call-arg]  # newer than the stubs
    )
    return boto3.session.Session().client("dynamodb", region_name=region, config=config)


def s3_client(region: str) -> Any:
    """An S3 client for KEYS_FILE=s3://... (created only when such a file is given)."""
    return boto3.session.Session().client("s3", region_name=region, config=Config(retries={"mode": "standard"}))


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError, else the exception's class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def is_retryable(exc: BaseException) -> bool:
    """True for throttling, server-side and connection errors, which may pass on a later attempt."""
    if isinstance(exc, ClientError):
        return error_code(exc) in RETRYABLE_CODES
    return isinstance(exc, BotoConnectionError)


def as_rerun_error(exc: BaseException, doing: str) -> RerunError:
    """Translate a boto error raised while `doing` into a one-line RerunError with the fix."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigError(f"no usable AWS credentials while {doing}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/SECRET")
    if isinstance(exc, NoRegionError):
        return ConfigError("no region: set AWS_REGION (or AWS_DEFAULT_REGION)")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if code in _CREDENTIAL_CODES:
            return ConfigError(f"{code} while {doing}: {message} (check credentials and the task role's permissions)")
        return RunAbortedError(f"{code} while {doing}: {message}")
    if isinstance(exc, BotoConnectionError):
        return RunAbortedError(
            f"cannot reach the DynamoDB endpoint while {doing}: {exc} (check AWS_ENDPOINT_URL/network)"
        )
    if isinstance(exc, BotoCoreError):
        return RunAbortedError(f"{type(exc).__name__} while {doing}: {exc}")
    return RunAbortedError(f"unexpected {type(exc).__name__} while {doing}: {exc}")


def call(fn: Any, doing: str, **kwargs: Any) -> Any:
    """Call a boto3 operation, turning its errors into RerunError (one line, no traceback)."""
    try:
        return fn(**kwargs)
    except (BotoCoreError, ClientError) as exc:
        raise as_rerun_error(exc, doing) from None
