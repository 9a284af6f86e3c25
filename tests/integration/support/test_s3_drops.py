"""The stand-in for S3 dropping a slow reader (tests/support/s3_drops.py) on the moto server: it cuts the first
bodies mid-way as botocore sees S3 do it, answers ranged GETs, and then passes bodies whole."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import BotoCoreError

from tests.support.s3 import s3_client
from tests.support.s3_drops import S3DropsSlowReader


def test_the_first_body_is_cut_and_a_ranged_get_resumes_it(s3_endpoint: str, bucket: Any) -> None:
    body = bytes(range(256)) * 20
    name = bucket({"data.bin": body})
    with S3DropsSlowReader(s3_endpoint, cut_after=1000, drops=1) as s3:
        client = s3_client(s3.endpoint)
        cut = client.get_object(Bucket=name, Key="data.bin")["Body"]
        with pytest.raises(BotoCoreError):  # IncompleteReadError or ResponseStreamingError
            cut.read()
        rest = client.get_object(Bucket=name, Key="data.bin", Range="bytes=1000-")["Body"].read()
    assert s3.cut == 1 and rest == body[1000:]
    assert s3.gets[-1][1] == "bytes=1000-"
