"""Fault injection for the drills: it lives here, in the test harness, never in the worker.

`Throttle` makes a share of BatchExecuteStatement requests fail as a whole with
ProvisionedThroughputExceededException (botocore's retries see them first), and answers a share of the statements
in the requests that do go through with the per-statement error ProvisionedThroughputExceeded, without sending those
statements: exactly what DynamoDB does when it throttles.
"""

from __future__ import annotations

import json
import random
import threading
from typing import Any

from botocore.awsrequest import AWSResponse

_THROTTLED = {"Code": "ProvisionedThroughputExceeded", "Message": "injected by the test harness"}


class Throttle:
    def __init__(self, client: Any, request_share: float, statement_share: float, seed: int = 7) -> None:
        self.request_share = request_share
        self.statement_share = statement_share
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.local = threading.local()
        self.requests_throttled = 0
        self.statements_throttled = 0
        events = client.meta.events
        events.register("provide-client-params.dynamodb.BatchExecuteStatement", self._drop_statements)
        events.register_first("before-call.dynamodb.BatchExecuteStatement", self._all_dropped)
        events.register("before-send.dynamodb.BatchExecuteStatement", self._throttle_request)
        events.register("after-call.dynamodb.BatchExecuteStatement", self._splice)

    def _chance(self, share: float) -> bool:
        with self.lock:
            return self.random.random() < share

    def _drop_statements(self, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        statements = params["Statements"]
        dropped = [i for i in range(len(statements)) if self._chance(self.statement_share)]
        with self.lock:
            self.statements_throttled += len(dropped)
        self.local.dropped = (dropped, len(statements))
        kept = [s for i, s in enumerate(statements) if i not in set(dropped)]
        return {**params, "Statements": kept or statements[:1]}

    def _all_dropped(self, **_: Any) -> Any:
        dropped, total = self.local.dropped
        if len(dropped) < total:
            return None
        self.local.dropped = ([], 0)
        return (AWSResponse("", 200, {}, None), {"Responses": [{"Error": dict(_THROTTLED)} for _ in range(total)]})

    def _throttle_request(self, **_: Any) -> AWSResponse | None:
        if not self._chance(self.request_share):
            return None
        with self.lock:
            self.requests_throttled += 1
        body = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "injected by the test harness"}  # fmt: skip
        return AWSResponse("", 400, {"x-amzn-errortype": "ProvisionedThroughputExceededException"}, _Raw(body))

    def _splice(self, parsed: dict[str, Any], **_: Any) -> None:
        dropped, total = self.local.dropped
        if not dropped or "Responses" not in parsed:
            return
        answers = iter(parsed["Responses"])
        parsed["Responses"] = [
            {"Error": dict(_THROTTLED)} if i in set(dropped) else next(answers) for i in range(total)
        ]


class _Raw:
    """The minimal raw body botocore reads from an AWSResponse."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps(body).encode()

    def stream(self, **_: Any) -> Any:
        yield self.data
