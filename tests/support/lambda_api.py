"""A stand-in for the Lambda API's ListEventSourceMappings, for the worker's consumer preflight (issue 21).

Why a stand-in: moto models event source mappings, but refuses to create one on a stream it does not hold itself
(CreateEventSourceMapping on DynamoDB Local's stream ARN: ResourceNotFoundException "Invalid EventSourceArn", moto
5), and the tests need a mapping on the table's real stream, in DynamoDB Local, whose records they read.

What it answers: ``GET /2015-03-31/event-source-mappings/`` with the query parameters ``EventSourceArn``,
``FunctionName``, ``Marker`` and ``MaxItems``, with the JSON body AWS documents
(https://docs.aws.amazon.com/lambda/latest/api/API_ListEventSourceMappings.html): ``EventSourceMappings`` (each an
EventSourceMappingConfiguration) and ``NextMarker``, `page_size` mappings a page. `refuse` makes every request fail
with an AWS-shaped error (status and ``x-amzn-ErrorType``), e.g. 403 AccessDeniedException.

What it does not model: any other Lambda operation, request signing, the function itself (a mapping names a function
that need not exist), FunctionName matching beyond the name or the ARN as stored.

A pytest plugin (registered in tests/conftest.py): the `lambda_api` fixture, one stand-in per test.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.support.loopback import LoopbackServer

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PATH = "/2015-03-31/event-source-mappings"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


class LambdaApi:
    """The stand-in server: `add` mappings, point the worker at `url` (AWS_ENDPOINT_URL_LAMBDA), read `requests`."""

    def __init__(self, page_size: int = 100) -> None:
        self.page_size = page_size
        self.mappings: list[dict[str, Any]] = []
        self.refuse: tuple[int, str] | None = None  # (HTTP status, error code) answered to every request
        self.requests: list[dict[str, str]] = []  # the query parameters of each request, in order
        self.server = LoopbackServer(self._handler(), "lambda-api")
        self.url = self.server.url
        self.server.start()

    def add(self, event_source_arn: str, function: str, state: str = "Enabled", **fields: Any) -> dict[str, Any]:
        """A mapping of `function` (a name) on `event_source_arn`, as ListEventSourceMappings returns it; `fields`
        override or add members (BatchSize, ParallelizationFactor, DestinationConfig, FilterCriteria, ...)."""
        mapping = {
            "UUID": str(uuid.uuid4()),
            "EventSourceArn": event_source_arn,
            "FunctionArn": function_arn(function),
            "State": state,
            "StateTransitionReason": "USER_INITIATED",
            "LastModified": time.time(),
            "LastProcessingResult": "No records processed",
            "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 0,
            "ParallelizationFactor": 1,
            "StartingPosition": "LATEST",
            "MaximumRetryAttempts": -1,
            "MaximumRecordAgeInSeconds": -1,
            "BisectBatchOnFunctionError": False,
            "DestinationConfig": {"OnFailure": {}},
            "FunctionResponseTypes": [],
            **fields,
        }
        self.mappings.append(mapping)
        return mapping

    def close(self) -> None:
        self.server.close()

    def answer(self, query: dict[str, str]) -> dict[str, Any]:
        """The body for one request's query parameters (a ValueError for a bad Marker)."""
        source, function = query.get("EventSourceArn"), query.get("FunctionName")
        chosen = [m for m in self.mappings if source in (None, m["EventSourceArn"])
                  and function in (None, m["FunctionArn"], m["FunctionArn"].rpartition(":")[2])]  # fmt: skip
        start = int(query.get("Marker", "0"))
        size = min(self.page_size, int(query.get("MaxItems", "100")))
        body: dict[str, Any] = {"EventSourceMappings": chosen[start : start + size]}
        if start + size < len(chosen):
            body["NextMarker"] = str(start + size)
        return body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                api.requests.append(query)
                if url.path.rstrip("/") != PATH:
                    return self._send(404, {"Type": "User", "message": "not modelled by the stand-in"},
                                      "ResourceNotFoundException")  # fmt: skip
                if api.refuse is not None:
                    status, code = api.refuse
                    return self._send(status, {"Type": "User", "message": f"{code} from the stand-in"}, code)
                try:
                    body = api.answer(query)
                except ValueError:
                    return self._send(400, {"Type": "User", "message": "bad Marker"}, "InvalidParameterValueException")
                return self._send(200, body)

            def _send(self, status: int, body: dict[str, Any], code: str | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                if code:
                    self.send_header("x-amzn-ErrorType", code)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:  # quiet: pytest shows failures, not every request
                pass

        return Handler


@pytest.fixture
def lambda_api() -> Iterator[LambdaApi]:
    """A Lambda ListEventSourceMappings stand-in of this test's own (page size 2, so listings paginate)."""
    api = LambdaApi(page_size=2)
    yield api
    api.close()
