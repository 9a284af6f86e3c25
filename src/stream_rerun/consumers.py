"""Who will see the re-fire: the table's consumers, found in preflight (issue 21).

A consumer is a Lambda event source mapping on the table's DynamoDB stream (or on a Kinesis streaming destination's
data stream), or a Kinesis streaming destination itself. Discovery makes read-only calls:

- ``lambda:ListEventSourceMappings`` with ``EventSourceArn`` (paginated by ``Marker``/``NextMarker``;
  https://docs.aws.amazon.com/lambda/latest/api/API_ListEventSourceMappings.html). Mapping ``State`` is one of
  Creating, Enabling, Enabled, Disabling, Disabled, Updating, Deleting.
- ``dynamodb:DescribeKinesisStreamingDestination``
  (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeKinesisStreamingDestination.html).

A failed call is never fatal: the run goes on without the list, and `Consumers.reason` says what failed and what to
grant or point at. A mapping that is not Enabled refuses the run (`Consumers.check`): records fired now would wait
unread on the stream and expire after 24 hours (a DynamoDB stream; a Kinesis data stream keeps them for its own
retention period). Not found: a mapping that reads a Kinesis destination through an enhanced fan-out consumer (its
EventSourceArn is the stream consumer's ARN, not the stream's) and any non-Lambda reader (a KCL application): name
those functions in CONSUMER_FUNCTIONS to watch them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from stream_rerun.errors import (
    CREDENTIAL_CODES,
    WORKER,
    Caller,
    ConfigError,
    error_code,
    error_message,
    is_lost_answer,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient

    from stream_rerun.config import Settings
    from stream_rerun.table import TableInfo

log = logging.getLogger(__name__)

UNKNOWN = "unknown"  # the state of a CONSUMER_FUNCTIONS function no discovered mapping matches
KINESIS_IDLE = frozenset({"DISABLED", "ENABLE_FAILED"})  # a Kinesis destination that gets no records
MAX_PAGES = 50  # 50 pages of 100 mappings: a stream has at most a handful; a stand-in looping its marker stops here


@dataclass(frozen=True)
class Consumer:
    """One reader of the table's changes: a Lambda event source mapping ("lambda") or a Kinesis streaming destination
    ("kinesis")."""

    kind: str  # "lambda" or "kinesis"
    name: str  # the function's name (from FunctionArn) / the Kinesis stream's name
    arn: str  # FunctionArn / Kinesis StreamArn (for a named, undiscovered function: the name or ARN as given)
    state: str  # mapping State (Enabled, Disabled, ...) / DestinationStatus (ACTIVE, ...) / "unknown"
    batch_size: int | None = None
    parallelization_factor: int | None = None
    bisect_on_error: bool | None = None
    on_failure: str | None = None  # DestinationConfig.OnFailure.Destination
    filtered: bool = False  # FilterCriteria has filters: only matching records invoke the function
    uuid: str | None = None
    named: bool = False  # named in CONSUMER_FUNCTIONS
    event_source: str | None = None  # the mapping's EventSourceArn (the table's stream, or a destination's stream)

    @property
    def enabled(self) -> bool:
        """A mapping reads records only when Enabled; a Kinesis destination receives them only when ACTIVE."""
        return self.state == ("ACTIVE" if self.kind == "kinesis" else "Enabled")

    @property
    def function(self) -> str:
        """The function's name as the AWS/Lambda metrics' FunctionName dimension spells it (no qualifier)."""
        return _function_ref(self.name)[0]

    def describe(self) -> dict[str, Any]:
        """JSON fields for logs and the launcher's plan."""
        if self.kind == "kinesis":
            return {"kind": self.kind, "name": self.name, "arn": self.arn, "state": self.state}
        return {
            "kind": self.kind,
            "function": self.name,
            "arn": self.arn,
            "state": self.state,
            "uuid": self.uuid,
            "batch_size": self.batch_size,
            "parallelization_factor": self.parallelization_factor,
            "bisect_on_error": self.bisect_on_error,
            "on_failure": self.on_failure,
            "filtered": self.filtered,
            "named": self.named,
        }


@dataclass(frozen=True)
class Consumers:
    """The consumers preflight found, the functions whose lag is watched, and whether discovery could run."""

    found: tuple[Consumer, ...]
    watched: tuple[str, ...]  # function names whose IteratorAge is watched: CONSUMER_FUNCTIONS, else found mappings'
    discovered: bool  # False when discovery could not run (no permission, an endpoint without the Lambda API, ...)
    reason: str | None = None  # why not, or a warning (no consumer found, Kinesis destinations not readable)

    @classmethod
    def preflight(
        cls, settings: Settings, table: TableInfo, dynamodb: DynamoDBClient, lambda_: LambdaClient
    ) -> Consumers:
        """The worker's preflight: discover the table's consumers and check them; raises ConfigError. The warning, if
        any, is logged by `warn` once the whole preflight has passed."""
        consumers = discover(lambda_, dynamodb, table_name=table.name,
                             stream_arn=table.stream_arn, named=settings.consumer_functions)  # fmt: skip
        consumers.check(settings.allow_disabled_consumers, settings.max_consumer_lag_seconds)
        return consumers

    def mappings(self) -> dict[str, list[str]]:
        """Each watched function's mapping UUIDs on the stream (its on-failure deliveries are counted by mapping)."""
        found = [c for c in self.found if c.kind == "lambda" and c.uuid and c.function in self.watched]
        return {name: [c.uuid for c in found if c.function == name and c.uuid] for name in self.watched}

    def warn(self) -> None:
        """One warning line when discovery could not run or found no consumer (or part of it failed)."""
        if self.reason:
            log.warning(f"consumers: {self.reason}",
                        extra={"event": "consumers_unknown", "discovered": self.discovered})  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """For run_started, the dry-run summary and the launcher's plan."""
        return {
            "discovered": self.discovered,
            "found": [c.describe() for c in self.found],
            "watched": list(self.watched),
            "reason": self.reason,
        }

    def check(self, allow_disabled: bool, max_lag: float | None = None) -> None:
        """Refuse (ConfigError, exit 2) a run that a mapping not Enabled would leave unread, unless `allow_disabled`;
        and a MAX_CONSUMER_LAG_SECONDS (`max_lag`) with no function to watch."""
        idle = [c for c in self.found if c.kind == "lambda" and c.state != UNKNOWN and not c.enabled]
        if idle and not allow_disabled:
            which = "; ".join(f"function '{c.name}' (mapping {c.uuid}) is {c.state}" for c in idle)
            kept = "24 hours" if all(":kinesis:" not in (c.event_source or "") for c in idle) else "its retention"
            raise ConfigError(
                f"a consumer of the table's stream is not Enabled: {which}: records fired now would wait unread and "
                f"expire from the stream after {kept}: enable the mapping (aws lambda update-event-source-mapping "
                f"--uuid {idle[0].uuid if len(idle) == 1 else '<uuid>'} --enabled) or set ALLOW_DISABLED_CONSUMERS=true"
            )
        if max_lag is not None and not self.watched:
            why = self.reason or "no Lambda mapping on the table's stream"
            raise ConfigError(
                f"MAX_CONSUMER_LAG_SECONDS={max_lag:g} watches no consumer ({why}): set CONSUMER_FUNCTIONS to the "
                "consumer functions' names, or unset MAX_CONSUMER_LAG_SECONDS"
            )

    def estimate(self, selected: int) -> dict[str, Any]:
        """For a dry run: what `selected` touches send each consumer. One stream record per touched item; a Lambda
        mapping is invoked at least ceil(records / BatchSize) times (a lower bound: a batching window that closes
        early and the records' spread over shards make batches smaller). With filter criteria set there is no lower
        bound (records that do not match invoke nothing): `invocations_at_least` is null."""
        per = []
        for c in self.found:
            if c.state == UNKNOWN or (c.kind == "kinesis" and c.state in KINESIS_IDLE):
                continue
            one: dict[str, Any] = {"kind": c.kind, "name": c.name, "uuid": c.uuid, "records": selected}
            if c.kind == "lambda":
                batch = c.batch_size or 100  # DynamoDB streams' default BatchSize
                least = None if c.filtered else math.ceil(selected / batch)
                one.update(batch_size=batch, invocations_at_least=least, filtered=c.filtered)
            per.append(one)
        return {"consumer_estimate": per}


def discover(
    lambda_client: LambdaClient,
    dynamodb_client: DynamoDBClient,
    *,
    table_name: str,
    stream_arn: str | None,
    named: tuple[str, ...] | None = None,
    caller: Caller = WORKER,
) -> Consumers:
    """Find the table's consumers: the mappings on `stream_arn` (the table's current stream) and on each ACTIVE Kinesis
    streaming destination's stream, and the destinations themselves. `named` (CONSUMER_FUNCTIONS) picks the watched
    functions; one no mapping matches (by name or ARN) is listed with state "unknown". Never raises for AWS errors: a
    failed call is a clause of `reason` naming the permission `caller` lacks, or the endpoint."""
    problems: list[str] = []
    found: list[Consumer] = []
    kinesis, kinesis_problem = _kinesis_destinations(dynamodb_client, table_name, caller)
    if kinesis_problem:
        problems.append(kinesis_problem)
    found.extend(kinesis)
    sources = [stream_arn] if stream_arn else []
    sources += [c.arn for c in kinesis if c.state not in KINESIS_IDLE]  # UPDATING, ENABLING still deliver
    listed = True
    for source in sources:
        mappings, problem = _mappings(lambda_client, source, caller)
        if problem:
            problems.append(problem)
            listed = False
            break
        found.extend(mappings)
    named = named or ()
    found = [replace(c, named=True) if any(_matches(ref, c) for ref in named) else c for c in found]
    found.extend(_undiscovered(named, found))
    watched = _watched(named, found)
    if listed and all(c.state == UNKNOWN for c in found):  # nothing but CONSUMER_FUNCTIONS' own names
        problems.insert(0,
            "no consumer found (no Lambda mapping on the table's stream, no Kinesis destination): a KCL application "
            "or another account's reader is not listed by any API; CONSUMER_FUNCTIONS names such functions"
        )  # fmt: skip
    return Consumers(tuple(found), watched, discovered=listed, reason="; ".join(problems) or None)


def _mappings(client: LambdaClient, source: str, caller: Caller) -> tuple[list[Consumer], str | None]:
    """The event source mappings reading `source`, or the reason they could not be listed."""
    found: list[Consumer] = []
    params: dict[str, Any] = {"EventSourceArn": source}
    for _ in range(MAX_PAGES):
        try:
            page = client.list_event_source_mappings(**params)
        except (ClientError, BotoCoreError) as exc:
            return [], _failed(exc, "lambda:ListEventSourceMappings", "Lambda", client.meta.endpoint_url, caller)
        found.extend(mapping_of(m) for m in page.get("EventSourceMappings", []))
        marker = page.get("NextMarker")
        if not marker:
            break
        params["Marker"] = marker
    return found, None


def mapping_of(mapping: Any) -> Consumer:
    """A Consumer from one EventSourceMappingConfiguration of ListEventSourceMappings."""
    arn = str(mapping.get("FunctionArn", ""))
    on_failure = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    batch, factor = mapping.get("BatchSize"), mapping.get("ParallelizationFactor")
    bisect = mapping.get("BisectBatchOnFunctionError")
    return Consumer(
        kind="lambda",
        name=_name_of(arn),
        arn=arn,
        state=str(mapping.get("State", UNKNOWN)),
        batch_size=int(batch) if batch is not None else None,
        parallelization_factor=int(factor) if factor is not None else None,
        bisect_on_error=bool(bisect) if bisect is not None else None,
        on_failure=str(on_failure) if on_failure else None,
        filtered=bool((mapping.get("FilterCriteria") or {}).get("Filters")),
        uuid=mapping.get("UUID"),
        event_source=mapping.get("EventSourceArn"),
    )


def _kinesis_destinations(client: DynamoDBClient, table: str, caller: Caller) -> tuple[list[Consumer], str | None]:
    try:
        answer = client.describe_kinesis_streaming_destination(TableName=table)
    except (ClientError, BotoCoreError) as exc:
        action = "dynamodb:DescribeKinesisStreamingDestination"
        return [], _failed(exc, action, "DynamoDB", client.meta.endpoint_url, caller)
    destinations = answer.get("KinesisDataStreamDestinations", [])
    return [_destination_of(d) for d in destinations], None


def _destination_of(destination: Any) -> Consumer:
    arn = str(destination.get("StreamArn", ""))
    return Consumer(kind="kinesis", name=arn.rpartition("/")[2], arn=arn,
                    state=str(destination.get("DestinationStatus", UNKNOWN)))  # fmt: skip


def _failed(exc: BaseException, action: str, service: str, endpoint: str, caller: Caller) -> str:
    """One clause saying what failed and what to grant or point at."""
    code = error_code(exc)
    if code in CREDENTIAL_CODES:
        scope = ' (on "*")' if action.startswith("lambda:") else ""
        return f"{action} was refused ({code}) to {caller.who}: it needs {action}{scope}: {caller.fix}"
    if is_lost_answer(exc):
        return f"{action}: cannot reach {service} at {endpoint} ({code}): check AWS_ENDPOINT_URL and the network"
    var = f"AWS_ENDPOINT_URL_{service.upper()}"
    return (f"{action} failed at {endpoint} ({code}: {error_message(exc)[:120]}): does that endpoint serve "
            f"{service}'s API? ({var} or AWS_ENDPOINT_URL picks it; an emulator may not model the call)")  # fmt: skip


def _name_of(arn: str) -> str:
    """The function name (with its qualifier, if any) of a function ARN, full or partial (`123456789012:function:f`);
    the string itself when not an ARN."""
    parts = arn.split(":")
    if "function" in parts[1:-1]:
        return ":".join(parts[parts.index("function", 1) + 1 :])
    return arn


def function_name(ref: str) -> str:
    """The AWS/Lambda metrics' FunctionName of a function name, name:qualifier or function ARN (full or partial):
    `arn:aws:lambda:eu-west-1:123456789012:function:f:live`, `f:live` and `f` are all `f`. An alias is watched by its
    function: FunctionName's maximum over every version and alias is never below the alias's own."""
    return _function_ref(ref)[0]


def _function_ref(ref: str) -> tuple[str, str | None]:
    """(name, qualifier) of a function name, name:qualifier, or function ARN (qualified or not)."""
    name, _, qualifier = _name_of(ref).partition(":")
    return name, qualifier or None


def _matches(ref: str, consumer: Consumer) -> bool:
    if consumer.kind != "lambda":
        return False
    if ref in (consumer.arn, consumer.name):
        return True
    name, qualifier = _function_ref(ref)
    their_name, their_qualifier = _function_ref(consumer.arn)
    return name == their_name and qualifier in (None, their_qualifier)


def _undiscovered(named: tuple[str, ...], found: list[Consumer]) -> list[Consumer]:
    """The CONSUMER_FUNCTIONS no found mapping matches, with state unknown."""
    return [Consumer(kind="lambda", name=_name_of(ref), arn=ref, state=UNKNOWN, named=True)
            for ref in named if not any(_matches(ref, c) for c in found)]  # fmt: skip


def _watched(named: tuple[str, ...] | None, found: list[Consumer]) -> tuple[str, ...]:
    if named:
        return tuple(dict.fromkeys(_function_ref(ref)[0] for ref in named))
    return tuple(dict.fromkeys(c.function for c in found if c.kind == "lambda"))
