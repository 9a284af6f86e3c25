"""What the launcher prints before it starts anything (issue 21), and the question it asks on a terminal.

The plan: the table and environment, the RUN_ID, the selection, the caps, whether it is a dry run, and who will see
the re-fire: the Lambda event source mappings (and Kinesis streaming destinations) of the table's current stream,
found with the operator's credentials (DescribeTable for `LatestStreamArn`, then `consumers.discover`, the worker's
own discovery). A lookup that fails (no permission, another endpoint) is a line in the plan, never an error: the
worker looks again with its own role and refuses a consumer that is not Enabled.

The question ("Start N task(s) on <table> in <env>? [y/N]") is asked only when the run configuration says so
(Terraform `confirm_runs`), stdin and stdout are terminals, and --yes was not given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from stream_rerun.config import Settings
from stream_rerun.consumers import Consumer, Consumers, discover
from stream_rerun.errors import OPERATOR, as_rerun_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient

# The variables that say which items a run selects (sources/) and how it narrows them, in the order shown.
SELECTION = ("HASH_KEY_VALUE", "GSI_NAME", "GSI_DATE", "GSI_DATE_FROM", "GSI_DATE_TO", "KEYS_FILE", "CHANGED_FROM",
             "CHANGED_TO", "EXPORT_S3_URI", "ALL_ITEMS", "TOTAL_SEGMENTS", "FAILED_BATCHES_FROM",
             "SORT_KEY_BEGINS_WITH", "SORT_KEY_FROM", "SORT_KEY_TO", "FILTER_ATTRIBUTE", "FILTER_VALUES")  # fmt: skip
_DATES = ("GSI_DATE", "GSI_DATE_FROM", "GSI_DATE_TO")  # GSI_NAME (often a Terraform default) matters only with these
CAPS = ("MAX_WCU_PERCENT", "MAX_WCU_PER_SECOND", "MAX_ITEMS_PER_SECOND", "MAX_RCU_PER_SECOND",
        "MAX_CONSUMER_LAG_SECONDS")  # fmt: skip
YES = ("y", "yes")


@dataclass(frozen=True)
class Lookup:
    """The table's stream and consumers as the operator's credentials see them; `note` says what could not be read."""

    stream_arn: str | None = None
    consumers: Consumers | None = None
    note: str | None = None


def look_up(dynamodb: DynamoDBClient, lambda_: LambdaClient, table: str, named: tuple[str, ...] | None) -> Lookup:
    """DescribeTable for the current stream, then the consumers on it; never raises (a failure is the note)."""
    try:
        description = dynamodb.describe_table(TableName=table)["Table"]
    except Exception as exc:  # noqa: BLE001 - the plan says what failed; the worker checks again
        return Lookup(note=f"not listed: {as_rerun_error(exc, 'DynamoDB', f'describing table {table}', OPERATOR)}")
    spec: dict[str, Any] = dict(description.get("StreamSpecification") or {})
    enabled = bool(spec.get("StreamEnabled"))
    stream = description.get("LatestStreamArn") if enabled else None
    try:
        found = discover(lambda_, dynamodb, table_name=table, stream_arn=stream, named=named, caller=OPERATOR)
    except Exception as exc:  # noqa: BLE001 - the same: a line in the plan
        return Lookup(stream, note=f"not listed: {as_rerun_error(exc, 'Lambda', 'listing the consumers', OPERATOR)}")
    return Lookup(stream, found)


def settings_of(defaults: dict[str, str], environment: dict[str, str], region: str) -> Settings:
    """The worker's settings for this run (the run configuration's defaults under the forwarded variables), as
    config.launch_environment checked them, with the worker's defaults filled in."""
    values = {k.lower(): v for k, v in {**defaults, **environment}.items() if k in Settings.env_names()}
    return Settings.model_validate({**values, "AWS_REGION": region})


@dataclass(frozen=True)
class Plan:
    """One run, as the operator is about to start it."""

    env: str
    tasks: int
    settings: Settings
    given: dict[str, str]  # the run configuration's defaults under the forwarded variables, as spelled
    forwarded: tuple[str, ...]
    lookup: Lookup
    confirm: str | None = None  # why no question is asked although the run configuration asks for one

    def lines(self) -> list[str]:
        s = self.settings
        head = f"Plan: {self.tasks} task(s) on table {s.table_name} in {self.env}, RUN_ID={s.run_id}"
        lines = [head, f"  forwarding   {', '.join(self.forwarded)}", f"  selection    {self.selection()}"]
        lines += [f"  caps         {self.caps()}", f"  concurrency  {s.concurrency} per task x {self.tasks} task(s)"]
        lines.append("  dry run      yes: selects and counts, writes nothing" if s.dry_run else
                     "  dry run      no: every selected item is written, and every consumer below sees it")  # fmt: skip
        lines += self.consumer_lines()
        if self.confirm:
            lines.append(f"  confirm      {self.confirm}")
        return lines

    def selection(self) -> str:
        dates = any(name in self.given for name in _DATES)
        shown = [f"{n}={self.given[n]}" for n in SELECTION if n in self.given and (n != "GSI_NAME" or dates)]
        return ", ".join(shown) or "none"

    def caps(self) -> str:
        caps = [f"{n}={self.given[n]}" for n in CAPS if n in self.given]
        unset = [n for n in CAPS if n not in self.given]
        return ", ".join(caps or ["none"]) + (f"; unset: {', '.join(unset)}" if unset else "")

    def consumer_lines(self) -> list[str]:
        look = self.lookup
        if look.consumers is None:
            return [f"  consumers    {one_line(look.note or 'not listed')}"]
        stream = look.stream_arn or "none enabled: a re-fire reaches no DynamoDB stream reader"
        lines = [f"  stream       {stream}"]
        found = look.consumers.found
        lines += [consumer_line(c, self.settings.allow_disabled_consumers) for c in found]
        if not look.consumers.discovered:
            lines.append("  consumers    not listed (see the note): the worker lists them again with its role")
        elif not found:
            lines.append("  consumers    none found")
        if look.consumers.watched:
            lag = self.settings.max_consumer_lag_seconds
            pacing = f"paused above MAX_CONSUMER_LAG_SECONDS={lag:g}" if lag else "not paced by lag"
            lines.append(f"  watched      {', '.join(look.consumers.watched)} ({pacing})")
        if look.consumers.reason:
            lines.append(f"  note         {one_line(look.consumers.reason)}")
        return lines


def one_line(reason: str) -> str:
    """A note on one line, whatever an endpoint answered (an HTML error page has line breaks)."""
    return " ".join(reason.split())


def consumer_line(c: Consumer, allow_disabled: bool) -> str:
    """`  consumer     indexer  Enabled  batch 50, parallelization 1, bisect on error, on failure <arn>, filtered`; one
    that is not Enabled is marked `!`, with a second line saying NOT ENABLED and what follows."""
    if c.kind == "kinesis":
        text = f"Kinesis destination {c.name}  {c.state}"
        return f"  consumer     {text}" if c.enabled else f"  ! consumer   {text} (NOT ACTIVE: it receives nothing)"
    if c.state == "unknown":
        return f"  consumer     {c.name}  state unknown (named in CONSUMER_FUNCTIONS; no mapping on the stream found)"
    details = [f"batch {c.batch_size}" if c.batch_size else None,
               f"parallelization {c.parallelization_factor}" if c.parallelization_factor else None,
               "bisect on error" if c.bisect_on_error else None,
               f"on failure {c.on_failure}" if c.on_failure else "no on-failure destination",
               "filter criteria set" if c.filtered else None]  # fmt: skip
    shown = ", ".join(d for d in details if d)
    if c.enabled:
        return f"  consumer     {c.name}  {c.state}  {shown}"
    then = ("ALLOW_DISABLED_CONSUMERS=true: the run goes on" if allow_disabled else
            "the run is refused unless ALLOW_DISABLED_CONSUMERS=true")  # fmt: skip
    return (f"  ! consumer   {c.name}  {c.state}  {shown}\n"
            f"               NOT ENABLED: records fired now wait unread and expire after 24 h; {then}")  # fmt: skip


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def why_not_ask(config: dict[str, Any], yes: bool, stdin: TextIO, stdout: TextIO) -> tuple[bool, str | None]:
    """Whether to ask, and when the run configuration asks for a question that is not asked, why not."""
    if not _truthy(config.get("confirm_runs", False)):
        return False, None
    if yes:
        return False, "--yes: not asking"
    if not (stdin.isatty() and stdout.isatty()):
        return False, "not a terminal: not asking (confirm_runs asks only on a terminal)"
    return True, None


def question(tasks: int, table: str, env: str, dry_run: bool) -> str:
    return f"Start {tasks} task(s) on {table} in {env}{' (dry run)' if dry_run else ''}? [y/N] "


def confirmed(text: str, ask: Callable[[str], str] = input) -> bool:
    """True for y or yes; anything else, an empty line or end of input is no. Ctrl-C propagates."""
    try:
        answer = ask(text)
    except EOFError:
        return False
    return answer.strip().lower() in YES
