"""The error vocabulary of the worker and the launcher: exit codes, our exceptions, and the one function that turns
an AWS error (botocore's) into ours. No other module parses ``response["Error"]``.

Every message is one line that says what is wrong, which AWS service answered, whose credentials were used and what
to do about it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

T = TypeVar("T")

# ---- exit codes (the worker's and the launcher's; README "Exit codes") ----
EXIT_OK = 0  # done: every selected item settled
EXIT_FAILED = 1  # some items failed, or a runtime error stopped the run
EXIT_CONFIG = 2  # bad configuration or failed preflight: nothing written
EXIT_TIMEOUT = 124  # launcher only: --timeout passed while tasks still ran (they keep running), as timeout(1)
EXIT_INTERRUPTED = 130  # launcher: Ctrl-C while following (the tasks keep running); worker: 128 + signal


class RerunError(Exception):
    """Base class: a failure that ends the run with a one-line message and an exit code."""

    exit_code = EXIT_FAILED


class ConfigError(RerunError):
    """Bad configuration or failed preflight; nothing has been written (exit 2)."""

    exit_code = EXIT_CONFIG


class RunAbortedError(RerunError):
    """A runtime failure that stops the run (unreachable endpoint, access denied on writes): exit 1."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Caller:
    """Whose credentials made a call, and where to fix their permissions."""

    who: str
    fix: str


WORKER = Caller("the worker's credentials (the ECS task role)", "grant it in Terraform's task role (iam.tf)")
OPERATOR = Caller(
    "your credentials (AWS_PROFILE or the default chain)",
    "attach the operator policy (Terraform output operator_policy_arn) or pick another AWS_PROFILE",
)

# Request-level codes worth another try: throttling and server-side trouble.
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "ReplicatedWriteConflictException",  # multi-Region strongly consistent tables: another Region's write won
        "Throttling",
        "TooManyRequestsException",
    }
)
# Codes that mean the caller's identity or permissions are wrong: fixing them is configuration.
CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidClientTokenId",
        "MissingAuthenticationTokenException",
        "AccessDeniedException",
        "AccessDenied",
    }
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError, else the exception's class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    """The AWS error message of a ClientError, else str(exc)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message", ""))
    return str(exc)


def is_lost_answer(exc: BaseException) -> bool:
    """True when a request may or may not have been applied: the connection failed or closed, or the answer timed
    out. Resending a touch is safe (its marker condition answers `already_done`), so these are retried."""
    return isinstance(exc, BotoConnectionError | HTTPClientError)


def throttling_reasons(exc: BaseException) -> list[str]:
    """The `reason` of each ThrottlingReason a throttling exception carries (ProvisionedThroughputExceededException
    spells the member ThrottlingReasons, ThrottlingException throttlingReasons); [] when it carries none."""
    if not isinstance(exc, ClientError):
        return []
    response: dict[str, Any] = dict(exc.response)
    reasons = response.get("ThrottlingReasons") or response.get("throttlingReasons") or []
    return [str(r.get("reason", "")) for r in reasons if isinstance(r, dict)]


def is_key_range_throttle(exc: BaseException) -> bool:
    """True when DynamoDB throttled a request for its key range only (e.g. TableWriteKeyRangeThroughputExceeded): one
    partition is hot, the table as a whole is not over its capacity."""
    reasons = throttling_reasons(exc)
    return bool(reasons) and all("KeyRange" in reason for reason in reasons)


def is_retryable(exc: BaseException) -> bool:
    """True for throttling, server-side errors and lost answers, which may pass on a later attempt."""
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error_code(exc) in RETRYABLE_CODES or status >= 500
    return is_lost_answer(exc)


def as_rerun_error(exc: BaseException, service: str, doing: str, caller: Caller = WORKER) -> RerunError:
    """The one translation of a botocore error raised by `service` while `doing` into a one-line RerunError."""
    if isinstance(exc, RerunError):
        return exc
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigError(
            f"no usable AWS credentials for {service} while {doing}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/SECRET"
        )
    if isinstance(exc, NoRegionError):
        return ConfigError(f"no region for {service} while {doing}: set AWS_REGION (or AWS_DEFAULT_REGION)")
    if isinstance(exc, ClientError):
        code, message = error_code(exc), error_message(exc)
        if code in CREDENTIAL_CODES:
            return ConfigError(f"{service} {code} while {doing} with {caller.who}: {message}: {caller.fix}")
        return RunAbortedError(f"{service} {code} while {doing}: {message}")
    if is_lost_answer(exc):
        return RunAbortedError(
            f"cannot reach {service} while {doing}: {exc} (check the region, AWS_ENDPOINT_URL and the network)"
        )
    if isinstance(exc, BotoCoreError):
        return RunAbortedError(f"{service}: {type(exc).__name__} while {doing}: {exc}")
    return RunAbortedError(f"unexpected {type(exc).__name__} while {doing}: {exc}")


def statement_refused(code: str, message: str, table: str, caller: Caller = WORKER) -> RunAbortedError:
    """A per-statement AccessDenied or ResourceNotFound (BatchStatementError): no later statement can pass either."""
    if code == "ResourceNotFound":
        return RunAbortedError(
            f"DynamoDB ResourceNotFound for an UPDATE of table '{table}' while writing: {message}: the table is gone "
            "(deleted during the run?) or not in this region: check TABLE_NAME and AWS_REGION"
        )
    return RunAbortedError(
        f"DynamoDB {code} for an UPDATE of table '{table}' while writing with {caller.who}: {message}: it needs "
        f"dynamodb:PartiQLUpdate on table '{table}' (and kms:Decrypt/kms:GenerateDataKey on its key when the table "
        f"uses a customer managed key): {caller.fix}"
    )


def aws_call(fn: Callable[..., T], service: str, doing: str, caller: Caller = WORKER, **kwargs: Any) -> T:
    """Call a boto3 operation, turning its errors into RerunError (one line, no traceback)."""
    try:
        return fn(**kwargs)
    except (BotoCoreError, ClientError) as exc:
        raise as_rerun_error(exc, service, doing, caller) from None
