"""Preflight: DescribeTable, and the checks of the table and the names every run refers to that must pass before the
first write (what a key source reads is checked by the source: sources/)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from stream_rerun.errors import ConfigError, as_rerun_error, error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from stream_rerun.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexInfo:
    """A global secondary index: its keys, status and projection."""

    name: str
    hash_key: str
    status: str
    range_key: str | None = None
    projection: str = "KEYS_ONLY"  # ALL, INCLUDE or KEYS_ONLY
    projected: tuple[str, ...] = ()  # the non-key attributes of an INCLUDE projection
    write_capacity: float | None = None  # a GSI's own: provisioned WCU or on-demand MaxWriteRequestUnits, when set
    local: bool = False  # a local secondary index: written with the table's capacity, never selected from here

    def written_by(self, *attributes: str | None) -> bool:
        """True when an update of `attributes` also writes this index (and consumes its write units)."""
        if self.projection == "ALL":
            return True
        return self.projection == "INCLUDE" and any(a in self.projected for a in attributes if a)


@dataclass(frozen=True)
class TableInfo:
    """What the worker needs to know about the table, from DescribeTable."""

    name: str
    key_names: tuple[str, ...]
    attr_types: dict[str, str]
    indexes: dict[str, IndexInfo]
    stream: str
    item_count: int
    size_bytes: int
    billing_mode: str = "PROVISIONED"
    write_capacity: float | None = None  # provisioned WCU, or the on-demand maximum write request units when set
    arn: str = ""  # the table's ARN (exports are requested and listed by it)
    local_indexes: dict[str, IndexInfo] = field(default_factory=dict)
    stream_arn: str | None = None  # LatestStreamArn while the stream is enabled (consumers.py lists its readers)

    @property
    def hash_key(self) -> str:
        return self.key_names[0]

    @property
    def range_key(self) -> str | None:
        return self.key_names[1] if len(self.key_names) > 1 else None

    @property
    def average_item_bytes(self) -> float:
        """DescribeTable's size / item count (AWS refreshes both about every six hours); 0 for an empty table."""
        return self.size_bytes / self.item_count if self.item_count else 0.0

    def indexes_written(self, revision: str, marker: str | None) -> list[IndexInfo]:
        """The indexes, global and local, a touch writes to (it changes the revision and the marker), by name."""
        every = [*self.indexes.values(), *self.local_indexes.values()]
        return sorted((i for i in every if i.written_by(revision, marker)), key=lambda i: i.name)


def describe(settings: Settings, client: DynamoDBClient) -> TableInfo:
    """DescribeTable and check the table, its stream and the names the settings refer to. Raises ConfigError."""
    try:
        desc = client.describe_table(TableName=settings.table_name)["Table"]
    except (ClientError, BotoCoreError) as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise ConfigError(
                f"TABLE_NAME '{settings.table_name}' does not exist in region {settings.aws_region}: "
                "check TABLE_NAME and AWS_REGION"
            ) from None
        raise as_rerun_error(exc, "DynamoDB", "describing the table") from None
    info = _table_info(desc, _stream_of(settings, client, desc))
    _check_names(settings, info)
    return info


def _table_info(desc: Any, stream: str) -> TableInfo:
    keys = sorted(desc["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
    billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    indexes = {gsi["IndexName"]: _index_info(gsi, billing) for gsi in desc.get("GlobalSecondaryIndexes", [])}
    local = {lsi["IndexName"]: _index_info(lsi, None) for lsi in desc.get("LocalSecondaryIndexes", [])}
    return TableInfo(
        name=desc["TableName"],
        key_names=tuple(k["AttributeName"] for k in keys),
        attr_types={a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]},
        indexes=indexes,
        stream=stream,
        item_count=int(desc.get("ItemCount", 0)),
        size_bytes=int(desc.get("TableSizeBytes", 0)),
        billing_mode=billing,
        write_capacity=_write_capacity(desc, billing),
        arn=str(desc.get("TableArn", "")),
        local_indexes=local,
        stream_arn=_stream_arn(desc),
    )


def _stream_arn(desc: Any) -> str | None:
    """The current stream's ARN, only while the stream is enabled: a disabled stream's last ARN gets no new record."""
    enabled = (desc.get("StreamSpecification") or {}).get("StreamEnabled")
    return str(desc["LatestStreamArn"]) if enabled and desc.get("LatestStreamArn") else None


def _index_info(gsi: Any, billing: str | None) -> IndexInfo:
    """A GSI (with the table's `billing` mode, for its own capacity) or, with None, an LSI."""
    keys = {k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]}
    projection = gsi.get("Projection") or {}
    return IndexInfo(
        name=gsi["IndexName"],
        hash_key=keys["HASH"],
        range_key=keys.get("RANGE"),
        status=gsi.get("IndexStatus", "ACTIVE"),
        projection=projection.get("ProjectionType", "KEYS_ONLY"),
        projected=tuple(projection.get("NonKeyAttributes", [])),
        write_capacity=_write_capacity(gsi, billing) if billing else None,
        local=billing is None,
    )


def _write_capacity(desc: Any, billing: str) -> float | None:
    """The table's write capacity: provisioned WCU, or the on-demand maximum (None when on demand has none)."""
    if billing == "PAY_PER_REQUEST":
        maximum = int((desc.get("OnDemandThroughput") or {}).get("MaxWriteRequestUnits", -1) or -1)
        return float(maximum) if maximum > 0 else None
    units = int((desc.get("ProvisionedThroughput") or {}).get("WriteCapacityUnits", 0) or 0)
    return float(units) if units > 0 else None


def _stream_of(settings: Settings, client: DynamoDBClient, desc: Any) -> str:
    """Name the change stream a touch reaches, or raise: touching a table without one fires nothing."""
    spec = desc.get("StreamSpecification") or {}
    if spec.get("StreamEnabled") and desc.get("LatestStreamArn"):
        return f"dynamodb:{spec.get('StreamViewType', '?')}"
    try:
        kinesis = client.describe_kinesis_streaming_destination(TableName=settings.table_name)
        active = [d for d in kinesis.get("KinesisDataStreamDestinations", []) if d.get("DestinationStatus") == "ACTIVE"]
    except (ClientError, BotoCoreError) as exc:
        log.debug("no Kinesis destination readable", extra={"event": "preflight", "error": str(exc)})
        active = []
    if active:
        return f"kinesis:{active[0].get('StreamArn', '?')}"
    raise ConfigError(
        f"table '{settings.table_name}' has no DynamoDB stream and no active Kinesis destination, so a touch "
        "would reach no consumer: enable a stream on the table first"
    )


def _check_names(settings: Settings, info: TableInfo) -> None:
    if settings.hash_key_name is not None and settings.hash_key_name != info.hash_key:
        raise ConfigError(
            f"HASH_KEY_NAME '{settings.hash_key_name}' is not the partition key of '{info.name}' "
            f"(it is '{info.hash_key}'): unset HASH_KEY_NAME or set it to '{info.hash_key}'"
        )
    for var, name in (("REVISION_ATTRIBUTE", settings.revision_attribute), ("RERUN_MARKER_ATTRIBUTE", settings.marker)):
        if name in info.key_names:
            raise ConfigError(f"{var} '{name}' is a key attribute of '{info.name}', which cannot be updated: rename it")
