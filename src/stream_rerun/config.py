"""The worker's settings: environment variables only, parsed here and nowhere else. The rules every run shares are
checked here; the rules of a key source's own variables beside the source (sources/, called from `_rules`).

Variables (README has the same table):

    TABLE_NAME               required; the table whose items are re-fired
    HASH_KEY_NAME            optional; must equal the table's partition key (checked in preflight)
    HASH_KEY_VALUE           select one partition (typed from the key schema: S, N, or B as base64)
    GSI_NAME                 index used by the date selections (its partition key holds the date)
    GSI_DATE_ATTRIBUTE       optional; must equal GSI_NAME's partition key (checked in preflight)
    GSI_DATE                 select one date through GSI_NAME; used verbatim, as stored
    GSI_DATE_FROM/GSI_DATE_TO  select an inclusive date range, one GSI partition per day
    GSI_DATE_FORMAT          strftime format of the dates (default %Y-%m-%d)
    REVISION_ATTRIBUTE       counter bumped on every touch (default revision)
    RERUN_MARKER_ATTRIBUTE   set to RUN_ID on every touch (default rerun_id; empty disables it)
    RUN_ID                   identifies the run; the same RUN_ID again fires nothing twice (default: generated)
    DRY_RUN                  select and count, write nothing (default false)
    LOG_LEVEL                DEBUG, INFO, WARNING or ERROR (default INFO)
    CONCURRENCY              write requests in flight at once (default 8)
    MAX_ITEMS_PER_SECOND     optional cap on items written per second
    MAX_WCU_PER_SECOND       optional cap on write capacity units consumed per second
    MAX_WCU_PERCENT          optional cap as a share (0-100] of the table's write capacity (and of one partition's
                             1,000 WCU/s for a one-partition run); both caps given: the lower one wins
    MAX_RCU_PER_SECOND       optional cap on read capacity units the selection's Query/Scan consume per second
    MAX_STALL_SECONDS        the run stops (exit 1) when no write (or no read of the selection) has succeeded for
                             this long (default 300)
    ALL_ITEMS                true: select every item of the table (parallel Scan, keys only); explicit opt-in
    TOTAL_SEGMENTS           Scan segments for ALL_ITEMS (default: one per 2 GiB of table, at least WORKER_COUNT)
    WORKER_INDEX/WORKER_COUNT  this task's share of the work when several tasks run one RUN_ID (default 0 of 1)
    KEYS_FILE                select the keys listed in a JSON Lines file (gzipped when it ends in .gz): a local path
                             or s3://bucket/key; or a DynamoDB export's folder (the one holding manifest-summary.json)
    SORT_KEY_BEGINS_WITH     narrow a HASH_KEY_VALUE or date run to sort keys with this prefix (in the key condition)
    SORT_KEY_FROM/SORT_KEY_TO  narrow it to an inclusive sort key range instead (typed from the key schema)
    FILTER_ATTRIBUTE         touch only items whose attribute holds one of FILTER_VALUES (checked in the touch's own
                             condition; the others are counted filtered_out)
    FILTER_VALUES            a JSON array of plain values: strings are S, numbers N, true/false BOOL
    CHANGED_FROM             select the items changed from this time (ISO 8601 with a zone, 2026-11-27T02:10:00Z),
                             through incremental exports the worker requests (needs point-in-time recovery)
    CHANGED_TO               ... until this time, exclusive (default: the table's latest restorable time)
    EXPORT_S3_URI            s3://bucket/prefix/ where the incremental exports are written (required with CHANGED_FROM)
    MAX_EXPORT_WAIT_SECONDS  how long the worker waits for its exports (default 3600; then exit 1, and a rerun with the
                             same RUN_ID reuses them)
    REMOVED_KEYS_OUT         where the keys of items deleted in the window go (local path or s3://bucket/key; ending in
                             / names a folder that gets <RUN_ID>.removed.jsonl); never written to the table
    FAILED_BATCHES_FROM      select the keys of the batches a Lambda consumer failed: its on-failure SQS queue's URL,
                             an s3://bucket/prefix/ of its S3 on-failure records, or a JSON Lines file of records
                             (local or s3://); a batch the stream no longer holds falls back to an incremental
                             export of its arrival window with EXPORT_S3_URI; rules in sources/failed_batches.py
    DELETE_SETTLED_MESSAGES  true: delete a queue's message once every key of its batch settled (default false)
    FAILED_KEYS_OUT          where the keys not settled (failed, unprocessed) go when the run ends, as a KEYS_FILE: a
                             local path or s3://bucket/key; ending in / names a folder that gets <RUN_ID>.jsonl
    CONSUMER_FUNCTIONS       the stream's Lambda consumers to check and watch, comma-separated names or ARNs (default:
                             the functions of the event source mappings found on the table's stream)
    ALLOW_DISABLED_CONSUMERS true: run although a consumer's mapping is not Enabled (its records may expire unread)
    MAX_CONSUMER_LAG_SECONDS optional; pause new writes while a watched consumer's IteratorAge is above this, until
                             every one is below half of it
    MAX_CONSUMER_PAUSE_SECONDS  a run that stays paused for the consumers this long (one pause) ends (exit 1;
                             resume with the same RUN_ID) (default 3600)
    METRICS_NAMESPACE        CloudWatch namespace of the metrics embedded in progress and summary lines (default
                             ddb-stream-rerun; empty: none)
    METRICS_ENVIRONMENT      the metrics' environment dimension (Terraform sets the environment's name)
    AWS_REGION / AWS_DEFAULT_REGION  region (either; ECS sets both)

The endpoint comes from boto3's own AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from stream_rerun import sources
from stream_rerun.config_types import TIME_HINT, FilterValues, FunctionNames, IsoTime
from stream_rerun.errors import ConfigError
from stream_rerun.sources import index_dates

_NAME = r"^[A-Za-z0-9_.\-]{3,255}$"
_RUN_ID = r"^[A-Za-z0-9_.:\-]{1,128}$"


def _generated_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)


class Settings(BaseSettings):
    """Every variable the worker reads. Field descriptions are the fix shown when a value is rejected."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    table_name: str = Field(
        pattern=_NAME, description="set TABLE_NAME to the table's name (3-255 of A-Z a-z 0-9 _ . -)"
    )
    hash_key_name: str | None = Field(None, min_length=1, description="unset it, or set the table's partition key")
    hash_key_value: str | None = Field(None, min_length=1, description="set the partition key value to re-fire")
    gsi_name: str | None = Field(None, min_length=1, description="set the name of an index keyed by date")
    gsi_date_attribute: str | None = Field(None, min_length=1, description="unset it, or set the index's partition key")
    gsi_date: str | None = Field(None, min_length=1, description="set the date as stored in the index")
    gsi_date_from: str | None = Field(None, min_length=1, description="set the first date of the range")
    gsi_date_to: str | None = Field(None, min_length=1, description="set the last date of the range (inclusive)")
    gsi_date_format: str = Field("%Y-%m-%d", min_length=1, description="set a strftime format such as %Y-%m-%d")
    revision_attribute: str = Field("revision", min_length=1, description="set the attribute name to increment")
    rerun_marker_attribute: str = Field("rerun_id", description="set an attribute name, or empty to disable")
    run_id: str = Field(default_factory=_generated_run_id, pattern=_RUN_ID, description="use 1-128 of A-Za-z0-9_.:-")
    dry_run: bool = Field(False, description="set DRY_RUN to true or false")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="set LOG_LEVEL to DEBUG, INFO, WARNING or ERROR"
    )
    concurrency: int = Field(8, ge=1, le=256, description="set CONCURRENCY to a whole number from 1 to 256")
    max_items_per_second: float | None = Field(None, gt=0, allow_inf_nan=False, description="set a number > 0")
    max_wcu_per_second: float | None = Field(None, gt=0, allow_inf_nan=False, description="set a number > 0")
    max_wcu_percent: float | None = Field(
        None, gt=0, le=100, allow_inf_nan=False, description="set a percentage above 0 and at most 100"
    )
    max_rcu_per_second: float | None = Field(None, gt=0, allow_inf_nan=False, description="set a number > 0")
    max_stall_seconds: float = Field(
        300.0, gt=0, le=86400, allow_inf_nan=False, description="set seconds above 0 and at most 86400"
    )
    all_items: bool = Field(False, description="set ALL_ITEMS to true to select the whole table, or false")
    total_segments: int | None = Field(None, ge=1, le=1_000_000, description="set a whole number from 1 to 1000000")
    worker_index: int = Field(0, ge=0, description="set a whole number from 0 to WORKER_COUNT - 1")
    worker_count: int = Field(1, ge=1, le=1000, description="set a whole number from 1 to 1000")
    keys_file: str | None = Field(None, min_length=1, description="set a local path or an s3://bucket/key URI")
    sort_key_begins_with: str | None = Field(None, min_length=1, description="set a sort key prefix")
    sort_key_from: str | None = Field(None, min_length=1, description="set the first sort key of the range")
    sort_key_to: str | None = Field(None, min_length=1, description="set the last sort key of the range (inclusive)")
    filter_attribute: str | None = Field(None, min_length=1, description="set the attribute name to filter on")
    filter_values: FilterValues | None = Field(
        None, description='set a JSON array of strings, numbers or true/false, e.g. ["FAILED","TIMEOUT"]'
    )
    changed_from: IsoTime | None = Field(None, description=TIME_HINT)
    changed_to: IsoTime | None = Field(None, description=TIME_HINT)
    export_s3_uri: str | None = Field(
        None, pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$", description="set s3://bucket/prefix/"
    )
    max_export_wait_seconds: float = Field(
        3600.0, gt=0, le=86400, allow_inf_nan=False, description="set seconds above 0 and at most 86400"
    )
    removed_keys_out: str | None = Field(
        None, min_length=1, description="set a local path or s3://bucket/key (ending in / for a folder)"
    )
    failed_batches_from: str | None = Field(
        None, min_length=1, description="set an SQS queue URL, an s3://bucket/prefix/, or a JSON Lines file"
    )
    delete_settled_messages: bool = Field(False, description="set DELETE_SETTLED_MESSAGES to true or false")
    failed_keys_out: str | None = Field(
        None, min_length=1, description="set a local path or s3://bucket/key (ending in / for a folder)"
    )
    consumer_functions: FunctionNames | None = Field(
        None, description="set comma-separated Lambda function names or ARNs, e.g. indexer,search-sync"
    )
    allow_disabled_consumers: bool = Field(False, description="set ALLOW_DISABLED_CONSUMERS to true or false")
    max_consumer_lag_seconds: float | None = Field(
        None, gt=0, le=86400, allow_inf_nan=False, description="set seconds above 0 and at most 86400"
    )
    max_consumer_pause_seconds: float = Field(
        3600.0, gt=0, le=86400, allow_inf_nan=False, description="set seconds above 0 and at most 86400"
    )
    metrics_namespace: str = Field(
        "ddb-stream-rerun", pattern=r"^[^:]{0,255}$", description="set a CloudWatch namespace, or empty for none"
    )
    metrics_environment: str = Field("", max_length=255, description="set the environment's name, e.g. prod")
    aws_region: str = Field(
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),
        min_length=1,
        description="set AWS_REGION (or AWS_DEFAULT_REGION), e.g. eu-west-1",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "hash_key_value",
        "gsi_date",
        "gsi_date_from",
        "gsi_date_to",
        "gsi_name",
        "keys_file",
        "sort_key_begins_with",
        "sort_key_from",
        "sort_key_to",
        "filter_attribute",
        "failed_keys_out",
        "removed_keys_out",
        "failed_batches_from",
    )
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _rules(self) -> Settings:
        sources.check_settings(self)  # exactly one selection, and the rules of each source's own variables
        if self.revision_attribute == self.rerun_marker_attribute:
            raise ValueError("REVISION_ATTRIBUTE and RERUN_MARKER_ATTRIBUTE must differ: choose another marker name")
        if self.worker_index >= self.worker_count:
            raise ValueError(f"WORKER_INDEX {self.worker_index} must be below WORKER_COUNT {self.worker_count}")
        if self.worker_count > 1 and not (
            self.all_items or self.keys_file or self.changed_from or self.failed_batches_from
        ):
            raise ValueError("WORKER_COUNT > 1 shares a whole-table or key-file run, a time window or failed "
                             "batches: set ALL_ITEMS=true, KEYS_FILE, CHANGED_FROM or FAILED_BATCHES_FROM")  # fmt: skip
        if self.removed_keys_out is not None and not (self.changed_from or self.keys_file):
            raise ValueError("REMOVED_KEYS_OUT lists items deleted in a time window: set it with CHANGED_FROM or a "
                             "KEYS_FILE naming an incremental export, or unset it")  # fmt: skip
        if (self.filter_attribute is None) != (self.filter_values is None):
            raise ValueError("FILTER_ATTRIBUTE and FILTER_VALUES go together: set both (FILTER_VALUES='[\"FAILED\"]')")
        for var, given in (("FAILED_KEYS_OUT", self.failed_keys_out), ("REMOVED_KEYS_OUT", self.removed_keys_out)):
            if given is not None and given.startswith("s3://"):
                bucket, _, key = given[5:].partition("/")
                if not bucket or not key:
                    raise ValueError(f"{var} {given!r} is not s3://bucket/key or s3://bucket/prefix/")
        return self

    def date_range(self) -> list[str]:
        """The dates of GSI_DATE_FROM..GSI_DATE_TO (inclusive), formatted with GSI_DATE_FORMAT (sources/index_dates.py
        owns the date rules)."""
        return index_dates.date_range(self)

    @property
    def marker(self) -> str | None:
        """The marker attribute, or None when RERUN_MARKER_ATTRIBUTE is empty (marker disabled)."""
        return self.rerun_marker_attribute or None

    @classmethod
    def env_names(cls) -> list[str]:
        """The worker's own variable names (not the AWS ones), as the launcher and Terraform use them."""
        return [name.upper() for name in cls.model_fields if name != "aws_region"]


def load_settings() -> Settings:
    """Parse the environment into Settings; raise ConfigError with one line naming the variable and the fix."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def launch_environment(defaults: dict[str, str], region: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """For the launcher: the worker's variables set in this process's environment, and only those (never
    credentials, HOME and the like), checked with the worker's own rules on top of the task definition's `defaults`.
    A RUN_ID is generated when none is given, so the operator can resume with it. `extra` (the launcher's own
    WORKER_COUNT) is checked and returned with them. Raises ConfigError.
    """
    given = {name: os.environ[name] for name in Settings.env_names() if name in os.environ}
    given.update(extra or {})
    given.setdefault("RUN_ID", _generated_run_id())
    values = {name.lower(): value for name, value in {**defaults, **given}.items() if name in Settings.env_names()}
    try:
        Settings.model_validate({**values, "AWS_REGION": region})  # the given values only, not os.environ
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
    return given


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        if not err["loc"]:  # a cross-field rule: its message names the variables already
            parts.append(str(err["msg"]).removeprefix("Value error, "))
            continue
        name = str(err["loc"][0]).lower()
        if name in ("aws_default_region", "aws_region"):
            name = "aws_region"
        field = Settings.model_fields.get(name)
        var = "AWS_REGION" if name == "aws_region" else name.upper()
        if err["type"] == "missing":
            hint = field.description if field and field.description else "set it"
            parts.append(f"{var} is not set: {hint}")
            continue
        hint = f" ({field.description})" if field and field.description else ""
        shown = err.get("input")
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{var}={shown!r} is invalid: {msg}{hint}")
    return "; ".join(parts)
