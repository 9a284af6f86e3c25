"""An AWS-like capacity model in front of DynamoDB Local, which reports no consumed capacity and never throttles.

`CapacityProxy` is a loopback HTTP proxy. Every request but BatchExecuteStatement passes through unchanged. For a
BatchExecuteStatement it does what DynamoDB does (the DynamoDB Developer Guide: "Read/write capacity mode",
"Partitions and data distribution", "Using global secondary indexes: provisioned throughput considerations"):

- each statement costs ceil(size / 1 KB) write units of the larger of the item's before and after images (at least
  1, also when its condition fails), plus, for every index that projects a changed attribute (ALL, or INCLUDE naming
  it), the index entry's own units; a KEYS_ONLY index costs nothing;
- each base-table partition (one partition key value) and each index partition (one index key value) is a token
  bucket of `partition_wcu` units/s holding at most `partition_burst_s` seconds of them (a partition's 1,000 WCU/s is
  a hard limit: burst capacity does not lift it), and the table one of `table_wcu` holding `burst_s` seconds (AWS
  keeps up to 300 s of unused table capacity);
  a statement that finds any of its buckets short is answered `ProvisionedThroughputExceeded` without being sent
  (it costs nothing), the admitted ones are forwarded to the emulator and answered with its answers;
- each GSI as a whole is a bucket of its own capacity when `index_wcu` names it (AWS: a GSI has its own provisioned
  WCU or on-demand maximum, and a GSI short of capacity throttles the table's writes);
- `ReturnConsumedCapacity` gets `ConsumedCapacity` (TOTAL, with the table's and each index's share, as INDEXES
  itemises it). Local secondary indexes are not modelled.

It can also throttle a share of statements at random (`throttle_share`), lose answers (`lose_share` of
BatchExecuteStatement requests are applied, then the connection is closed without an answer: botocore's
ConnectionClosedError), and `outage(seconds)` closes every connection unanswered; `hold()` keeps every answer
(a request that arrives meanwhile waits, and is closed unanswered and unapplied when the hold ends).
Per-statement errors (BatchStatementError): `error_share` of the statements are answered `error_code` (AccessDenied,
ResourceNotFound, ...) without being sent. Request-level refusal: a request naming a key value in `invalid_keys` is
answered as a whole with a 400 ValidationException, nothing applied (what DynamoDB does to a request it cannot parse
or validate, API_BatchExecuteStatement "Errors"). Hot partitions: `partition_limits` give single partitions their own
rate, and with `key_range_errors` a request whose statements together find a partition short is throttled whole with
a ThrottlingException carrying throttlingReasons TableWriteKeyRangeThroughputExceeded (API_ThrottlingReason); the
per-statement answers carry no reasons. `by_partition` records when each partition's statements were admitted.
`ledger` records (time, units) of every admitted statement, so tests can check a rate second by second.

Reads (Query and Scan, "Read consumption for Query and Scan" in the Developer Guide): a read is answered by the
emulator, and `ReturnConsumedCapacity` gets what DynamoDB would charge: the items the page *read* (before any
FilterExpression and whatever the ProjectionExpression), summed and rounded up to 4 KB units, one unit per 4 KB for
a strongly consistent read, half for an eventually consistent one, at least one such unit a page (an empty
filtered page costs too). `throttle_reads(n)` answers the next n reads ProvisionedThroughputExceededException (as a
table whose read capacity ran out does); `reads` records (time, units, request) of every answered read. Not
modelled: read capacity buckets, and an index's own read capacity.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlparse

from stream_rerun_dev import emulator
from tests.support.loopback import LoopbackServer

KB = 1024
THROTTLED = {"Code": "ProvisionedThroughputExceeded", "Message": "Throughput exceeds the current capacity (model)"}
_TABLE = re.compile(r'^\s*UPDATE\s+"((?:[^"]|"")+)"', re.IGNORECASE)
_KEY_EQ = re.compile(r'"((?:[^"]|"")+)"\s*=\s*\?')
_SET = re.compile(r'SET\s+"((?:[^"]|"")+)"\s*=', re.IGNORECASE)


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value, as DynamoDB sizes items (names are added by item_size)."""
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = raw.lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(raw) if isinstance(raw, bytes) else len(base64.b64decode(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in raw)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in raw)
    return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in raw.items())  # M


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in (item or {}).items())


def units(size: int) -> int:
    return max(1, math.ceil(size / KB))


class Bucket:
    """`rate` tokens a second, at most `rate * burst_s` held; starts full."""

    def __init__(self, rate: float, burst_s: float, clock: Any = time.monotonic) -> None:
        self.rate, self.capacity, self.clock = rate, rate * burst_s, clock
        self.tokens, self.at = self.capacity, clock()

    def refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def has(self, cost: float) -> bool:
        self.refill()
        return self.tokens >= min(cost, self.capacity)


@dataclass
class Statement:
    """One statement of a request, parsed, with what it will cost and which buckets it draws on."""

    index: int
    request: dict[str, Any]
    table: str
    key: dict[str, Any]
    sets: tuple[str, ...]
    before: dict[str, Any] | None = None
    buckets: list[tuple[Any, ...]] = field(default_factory=list)
    cost: dict[str, int] = field(default_factory=dict)  # "" for the table, else the index name


@dataclass
class CapacityModel:
    """Limits in write units per second; bursts in seconds of a bucket's rate."""

    partition_wcu: float = 1000.0
    table_wcu: float = math.inf
    burst_s: float = 1.0
    partition_burst_s: float = 1.0
    lose_share: float = 0.0
    throttle_share: float = 0.0  # statements throttled at random, whatever the buckets hold (a hot key elsewhere)
    error_code: str = ""  # a per-statement error code answered to `error_share` of the statements (none sent)
    error_share: float = 0.0
    invalid_keys: frozenset[str] = frozenset()  # key values whose request is refused whole (ValidationException)
    # Per-partition limits (partition key value -> WCU/s) in place of partition_wcu, and whether a partition that
    # runs short throttles the whole request with a ThrottlingReason (TableWriteKeyRangeThroughputExceeded) instead
    # of answering its statements ProvisionedThroughputExceeded.
    partition_limits: dict[str, float] = field(default_factory=dict)
    index_wcu: dict[str, float] = field(default_factory=dict)  # a GSI's own capacity (its table-wide bucket), units/s
    key_range_errors: bool = False


class CapacityProxy:
    """A context manager: `with CapacityProxy(emulator_endpoint, model) as proxy:` then point the worker at
    `proxy.endpoint`."""

    def __init__(self, target: str, model: CapacityModel | None = None, seed: int = 11) -> None:
        self.target = urlparse(target)
        self.model = model or CapacityModel()
        self.client = emulator.ddb(target)
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.buckets: dict[tuple[Any, ...], Bucket] = {}
        self.tables: dict[str, Any] = {}
        self.ledger: list[tuple[float, int]] = []
        self.admitted = 0
        self.throttled = 0
        self.lost = 0
        self.refused = 0  # requests refused whole (ValidationException)
        self.key_range_throttled = 0  # requests throttled whole for a partition (ThrottlingReasons)
        self.by_partition: dict[str, list[float]] = {}  # partition key value -> arrival of each admitted statement
        self.by_index: dict[str, list[tuple[float, int]]] = {}  # GSI -> (arrival, units) of each admitted statement
        self.errors = 0  # statements answered `error_code`
        self._down_until = 0.0
        self._released = threading.Event()
        self._released.set()
        self.held = 0
        self.reads: list[tuple[float, float, dict[str, Any]]] = []
        self.read_throttled = 0
        self._throttle_reads = 0
        self._local = threading.local()
        self.server = LoopbackServer(self._handler(), "capacity-proxy")
        self.endpoint = self.server.url

    def __enter__(self) -> CapacityProxy:
        self.server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._released.set()
        self.server.close()

    @contextmanager
    def outage(self, seconds: float) -> Iterator[None]:
        """Every connection is closed unanswered for `seconds` from now."""
        self._down_until = time.monotonic() + seconds
        yield

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Every request that arrives meanwhile waits unanswered (and unapplied) until the block ends."""
        self._released.clear()
        try:
            yield
        finally:
            self._released.set()

    def throttle_reads(self, count: int) -> None:
        """The next `count` Query/Scan requests are answered ProvisionedThroughputExceededException."""
        with self.lock:
            self._throttle_reads = count

    # ---- HTTP ----
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not proxy._released.is_set():  # held: no answer, nothing applied
                    with proxy.lock:
                        proxy.held += 1
                    proxy._released.wait()
                    self.close_connection = True
                    self.connection.close()
                    return
                if time.monotonic() < proxy._down_until:
                    self.close_connection = True
                    self.connection.close()
                    return
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith(".BatchExecuteStatement"):
                    status, payload, lose = proxy.batch(json.loads(body), arrived)
                    if lose:
                        self.close_connection = True
                        self.connection.close()
                        return
                    out, ctype = json.dumps(payload).encode(), "application/x-amz-json-1.0"
                elif target.endswith((".Query", ".Scan")):
                    status, read = proxy.read(target.rpartition(".")[2], json.loads(body), arrived)
                    out, ctype = json.dumps(read).encode(), "application/x-amz-json-1.0"
                else:
                    status, out, ctype = proxy.forward(body, dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        return Handler

    def forward(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=30)
        keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection", "content-length")}
        conn.request("POST", "/", body=body, headers=keep)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "application/x-amz-json-1.0")

    # ---- Query and Scan, as DynamoDB charges them ----
    def read(self, operation: str, request: dict[str, Any], arrived: float) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self._throttle_reads > 0:
                self._throttle_reads -= 1
                self.read_throttled += 1
                return 400, {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                             "message": "The level of configured provisioned throughput for the table was exceeded "
                             "(model)"}  # fmt: skip
        wanted = request.pop("ReturnConsumedCapacity", "NONE")
        call = self.client.query if operation == "Query" else self.client.scan
        answer = call(**request)
        answer.pop("ResponseMetadata", None)
        read = call(**_unfiltered(request))["Items"]  # the same page (Limit counts items read), whole items
        per_unit = 4 * KB
        cost = max(1, math.ceil(sum(item_size(i) for i in read) / per_unit)) * (
            1.0 if request.get("ConsistentRead") else 0.5
        )
        with self.lock:
            self.reads.append((arrived, cost, request))
        if wanted != "NONE":
            answer["ConsumedCapacity"] = {"TableName": request["TableName"], "CapacityUnits": cost}
        return 200, answer

    def read_rate(self) -> tuple[float, float]:
        """(units, seconds) of the reads from the first to the last: the units of every read but the last over the
        time between the first's arrival and the last's (a budget paced from each page's cost is held when
        units / seconds stays at or below it)."""
        with self.lock:
            times = sorted(self.reads, key=lambda r: r[0])
        if len(times) < 2:
            return 0.0, 0.0
        return sum(units for _, units, _ in times[:-1]), times[-1][0] - times[0][0]

    # ---- BatchExecuteStatement, as DynamoDB charges and throttles it ----
    def batch(self, request: dict[str, Any], arrived: float | None = None) -> tuple[int, dict[str, Any], bool]:
        """Charge, throttle and forward one request. The ledger dates admitted units by the request's arrival (what
        the worker sent when), not by the end of this proxy's own lookups, which the emulator's pauses stretch."""
        statements = [self._parse(i, s) for i, s in enumerate(request["Statements"])]
        if any(next(iter(v.values())) in self.model.invalid_keys for st in statements for v in st.key.values()):
            with self.lock:
                self.refused += 1
            error = {"__type": "com.amazon.coral.validate#ValidationException", "message": "Invalid statement (model)"}
            return 400, error, False
        self._before_images(statements)
        if self.model.key_range_errors and self._short_partition(statements):
            return 400, self._key_range_error(statements[0].table), False
        admitted: list[Statement] = []
        answers: list[dict[str, Any] | None] = [None] * len(statements)
        with self.lock:
            for st in statements:
                if self.model.error_code and self.random.random() < self.model.error_share:
                    self.errors += 1
                    answers[st.index] = {"Error": {"Code": self.model.error_code, "Message": "injected (model)"}}
                elif self._admit(st, time.monotonic() if arrived is None else arrived):
                    admitted.append(st)
                else:
                    self.throttled += 1
                    answers[st.index] = {"Error": dict(THROTTLED)}
        if admitted:
            forwarded = self.client.batch_execute_statement(
                Statements=[st.request for st in admitted], ReturnConsumedCapacity="NONE"
            )
            for st, answer in zip(admitted, forwarded["Responses"], strict=True):
                answers[st.index] = answer
            self._settle(admitted, forwarded["Responses"])
        payload: dict[str, Any] = {"Responses": answers}
        if request.get("ReturnConsumedCapacity", "NONE") != "NONE":
            payload["ConsumedCapacity"] = self._consumed(admitted)
        with self.lock:
            lose = bool(admitted) and self.random.random() < self.model.lose_share
            self.lost += lose
        return 200, payload, lose

    def _parse(self, index: int, request: dict[str, Any]) -> Statement:
        text, params = request["Statement"], request.get("Parameters", [])
        table = _TABLE.match(text)
        assert table, f"the capacity model reads UPDATE statements only: {text}"
        where = text.upper().index(" WHERE ")
        positions = [m.start() for m in re.finditer(r"\?", text)]
        key = {}
        for match in _KEY_EQ.finditer(text, where):
            name = match.group(1).replace('""', '"')
            key[name] = params[positions.index(match.end() - 1)]
        sets = tuple(m.group(1).replace('""', '"') for m in _SET.finditer(text[:where]))
        return Statement(index, request, table.group(1).replace('""', '"'), key, sets)

    def _describe(self, table: str) -> Any:
        if table not in self.tables:
            self.tables[table] = self.client.describe_table(TableName=table)["Table"]
        return self.tables[table]

    def _before_images(self, statements: list[Statement]) -> None:
        by_table: dict[str, list[Statement]] = {}
        for st in statements:
            by_table.setdefault(st.table, []).append(st)
        for table, group in by_table.items():
            desc = self._describe(table)
            names = [k["AttributeName"] for k in desc["KeySchema"]]
            for st in group:  # a FILTER_* condition is `"attr" = ?` too: keep the key's own attributes
                st.key = {name: st.key[name] for name in names}
            keys = {json.dumps([st.key[n] for n in names], default=str): st for st in group}
            found = self.client.batch_get_item(RequestItems={table: {"Keys": [st.key for st in group]}})
            for item in found["Responses"].get(table, []):
                keys[json.dumps([item[n] for n in names], default=str)].before = item
            for st in group:
                self._plan(st, desc)

    def _plan(self, st: Statement, desc: Any) -> None:
        """Which buckets the statement draws on and what it costs, from its before image."""
        hash_key = next(k["AttributeName"] for k in desc["KeySchema"] if k["KeyType"] == "HASH")
        after = item_size(st.before) + 40 if st.before else 0  # the touch adds a marker and a revision digit or two
        st.cost[""] = units(max(item_size(st.before), after))
        st.buckets = [(st.table,), (st.table, "", json.dumps(st.key[hash_key], default=str))]
        for gsi in desc.get("GlobalSecondaryIndexes", []):
            projection = gsi.get("Projection", {})
            kind = projection.get("ProjectionType", "KEYS_ONLY")
            written = kind == "ALL" or (
                kind == "INCLUDE" and set(st.sets) & set(projection.get("NonKeyAttributes", []))
            )
            index_key = next(k["AttributeName"] for k in gsi["KeySchema"] if k["KeyType"] == "HASH")
            if not written or not st.before or index_key not in st.before:
                continue
            st.cost[gsi["IndexName"]] = st.cost[""] if kind == "ALL" else 1
            st.buckets.append((st.table, gsi["IndexName"], json.dumps(st.before[index_key], default=str)))
            st.buckets.append((st.table, gsi["IndexName"]))

    def _bucket(self, key: tuple[Any, ...]) -> Bucket:
        if key not in self.buckets:
            if len(key) == 1:
                self.buckets[key] = Bucket(self.model.table_wcu, self.model.burst_s)
            elif len(key) == 2:  # a GSI as a whole
                self.buckets[key] = Bucket(self.model.index_wcu.get(key[1], math.inf), self.model.burst_s)
            else:
                value = next(iter(json.loads(key[2]).values())) if key[1] == "" else None
                rate = self.model.partition_limits.get(value, self.model.partition_wcu)
                self.buckets[key] = Bucket(rate, self.model.partition_burst_s)
        return self.buckets[key]

    def _short_partition(self, statements: list[Statement]) -> bool:
        """True when the request's statements together find one of their partition buckets (not the table's) short:
        the request is throttled whole, nothing taken. Counted as throttled statements."""
        demand: dict[tuple[Any, ...], float] = {}
        for st in statements:
            for b in st.buckets:
                if len(b) == 3:  # a partition of the table or of an index; not the table's or a GSI's own capacity
                    demand[b] = demand.get(b, 0.0) + st.cost[b[1]]
        with self.lock:
            short = any(not self._bucket(b).has(units) for b, units in demand.items())
            if short:
                self.throttled += len(statements)
                self.key_range_throttled += 1
            return short

    def _key_range_error(self, table: str) -> dict[str, Any]:
        arn = f"arn:aws:dynamodb:us-east-1:000000000000:table/{table}"
        return {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                "message": "Throughput exceeds the limit of a partition (model)",
                "throttlingReasons": [{"reason": "TableWriteKeyRangeThroughputExceeded", "resource": arn}]}  # fmt: skip

    def _admit(self, st: Statement, arrived: float) -> bool:
        """Take the statement's units from every bucket it draws on, or from none (throttled)."""
        draws = [(self._bucket(b), self._share(st, b)) for b in st.buckets]
        if self.random.random() < self.model.throttle_share or not all(b.has(cost) for b, cost in draws):
            return False
        for bucket, cost in draws:
            bucket.tokens -= cost
        self.admitted += 1
        self.ledger.append((arrived, sum(st.cost.values())))
        for name, cost in st.cost.items():
            if name:
                self.by_index.setdefault(name, []).append((arrived, cost))
        self.by_partition.setdefault(next(iter(json.loads(st.buckets[1][2]).values())), []).append(arrived)
        return True

    @staticmethod
    def _share(st: Statement, bucket: tuple[Any, ...]) -> int:
        if len(bucket) == 1:
            return sum(st.cost.values())
        return st.cost[bucket[1]]

    def _settle(self, admitted: list[Statement], answers: list[dict[str, Any]]) -> None:
        """A statement whose condition failed wrote nothing: it costs its before image's units, not the index's."""
        with self.lock:
            for st, answer in zip(admitted, answers, strict=True):
                if "Error" in answer:
                    refund = sum(v for k, v in st.cost.items() if k) + st.cost[""] - units(item_size(st.before))
                    st.cost = {"": units(item_size(st.before))}
                    self._bucket((st.table,)).tokens += refund

    @staticmethod
    def _consumed(admitted: list[Statement]) -> list[dict[str, Any]]:
        by_table: dict[str, dict[str, Any]] = {}
        for st in admitted:
            empty = {"TableName": st.table, "CapacityUnits": 0.0, "Table": {"CapacityUnits": 0.0}}
            entry = by_table.setdefault(st.table, {**empty, "GlobalSecondaryIndexes": {}})
            for name, cost in st.cost.items():
                entry["CapacityUnits"] += cost
                if name:
                    entry["GlobalSecondaryIndexes"].setdefault(name, {"CapacityUnits": 0.0})["CapacityUnits"] += cost
                else:
                    entry["Table"]["CapacityUnits"] += cost
        return list(by_table.values())

    # ---- what tests read ----
    def max_window(self, seconds: float = 1.0, index: str | None = None) -> float:
        """The most units admitted in any `seconds`-long window (sliding, starting at each admission); of one GSI's
        units with `index`."""
        with self.lock:
            events = sorted(self.ledger if index is None else self.by_index.get(index, []))
        best, end, total = 0.0, 0, 0.0
        for start in range(len(events)):
            while end < len(events) and events[end][0] < events[start][0] + seconds:
                total += events[end][1]
                end += 1
            best = max(best, total)
            total -= events[start][1]
        return best

    def rate(self, index: str | None = None) -> tuple[float, float]:
        """(units admitted, seconds from the first admission to the last); of one GSI's units with `index`."""
        with self.lock:
            ledger = self.ledger if index is None else self.by_index.get(index, [])
            if not ledger:
                return 0.0, 0.0
            times = [t for t, _ in ledger]
            return sum(u for _, u in ledger), max(times) - min(times)


def _unfiltered(request: dict[str, Any]) -> dict[str, Any]:
    """The read without FilterExpression and ProjectionExpression (what DynamoDB reads, and charges, for it), and
    without the names and values only those used."""
    kept = {k: v for k, v in request.items() if k not in ("FilterExpression", "ProjectionExpression", "Select")}
    text = " ".join(str(kept.get(k, "")) for k in ("KeyConditionExpression",))
    for part in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        used = {k: v for k, v in kept.get(part, {}).items() if re.search(re.escape(k) + r"\b", text)}
        kept.pop(part, None)
        if used:
            kept[part] = used
    return kept
