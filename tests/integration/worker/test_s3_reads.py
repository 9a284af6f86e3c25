"""A key file on S3 read while S3 drops the reader (tests/support/s3_drops.py in front of the moto server): the read
resumes with ranged GETs, every key is touched exactly once, and a read that cannot resume names S3 and the object.
What fired is read from DynamoDB Local's stream."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from typing import Any

import pytest

from stream_rerun.sources import _files
from stream_rerun_dev import emulator
from tests.support.exports import export_files, s3_folder
from tests.support.items import item
from tests.support.s3_drops import S3DropsSlowReader
from tests.support.streams import fired_by


def sort_key(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()[:24]  # compresses poorly: a .gz file of several KB


@pytest.mark.parametrize("name", ["keys.jsonl", "keys.jsonl.gz"])
def test_a_key_file_cut_mid_way_resumes_and_touches_each_key_once(
    s3_endpoint: str, bucket: Any, ddb: Any, make_table: Any, stream: Any, worker: Any, name: str
) -> None:
    # GIVEN 200 keys in a key file on S3, and S3 cutting the first 4 object bodies it sends after 1,500 bytes
    table = make_table()
    keys = [("p1", sort_key(n)) for n in range(200)]
    emulator.put_items(ddb, table, [item(pk, sk, revision=1) for pk, sk in keys])
    text = "".join(json.dumps({"pk": pk, "sk": sk}) + "\n" for pk, sk in keys).encode()
    where = bucket({name: gzip.compress(text) if name.endswith(".gz") else text})
    with S3DropsSlowReader(s3_endpoint, cut_after=1500, drops=4) as s3:
        result = worker(table, KEYS_FILE=f"s3://{where}/{name}", RUN_ID="s3cut", AWS_ENDPOINT_URL_S3=s3.endpoint)
    # THEN the bodies were cut, the reads resumed with ranged GETs, and each key fired exactly once
    assert s3.cut == 4 and any(rng for _, rng in s3.gets)
    assert result.code == 0, result.summary
    assert result.summary["touched"] == 200
    assert fired_by(stream(table), "s3cut") == Counter(keys)


def test_a_read_s3_keeps_dropping_names_s3_and_the_object(
    s3_endpoint: str, bucket: Any, ddb: Any, make_table: Any, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a key file whose every body S3 cuts before its first byte once preflight has read it whole
    monkeypatch.setattr(_files, "RESUME_BACKOFF_S", 0.01)
    table = make_table()
    emulator.put_items(ddb, table, [item("p1", f"{n:03}", revision=1) for n in range(50)])
    text = "".join(json.dumps({"pk": "p1", "sk": f"{n:03}"}) + "\n" for n in range(50)).encode()
    where = bucket({"keys.jsonl": text})
    with S3DropsSlowReader(s3_endpoint, cut_after=0, drops=0) as s3:
        real_get = _files.S3Body.__init__

        def preflight_reads_whole(body: Any, *args: Any, **kwargs: Any) -> None:
            real_get(body, *args, **kwargs)
            s3.drops = 1000  # from the first GET of the run on, every body is cut

        monkeypatch.setattr(_files.S3Body, "__init__", preflight_reads_whole)
        result = worker(table, KEYS_FILE=f"s3://{where}/keys.jsonl", RUN_ID="s3gone", AWS_ENDPOINT_URL_S3=s3.endpoint)
    # THEN the run stops (exit 1) with an error naming S3 and the object, not DynamoDB
    assert result.code == 1
    error = result.summary["error"]
    assert "S3" in error and f"s3://{where}/keys.jsonl" in error and "DynamoDB" not in error


def test_an_export_on_s3_cut_mid_way_resumes_and_touches_each_item_once(
    s3_endpoint: str, bucket: Any, ddb: Any, make_table: Any, stream: Any, worker: Any
) -> None:
    # GIVEN an export of two gzipped data files on S3, and S3 cutting the first 3 bodies longer than 1,000 bytes
    table = make_table()
    items = [item("p1", sort_key(n), revision=1) for n in range(200)]
    emulator.put_items(ddb, table, items)
    objects = export_files(table, [items[:100], items[100:]])
    folder = s3_folder(bucket(objects), objects)
    with S3DropsSlowReader(s3_endpoint, cut_after=1000, drops=3) as s3:
        result = worker(table, KEYS_FILE=folder, RUN_ID="expcut", AWS_ENDPOINT_URL_S3=s3.endpoint)
    # THEN every data file was read to its end once (the manifest counts hold) and each item fired exactly once
    assert s3.cut == 3
    assert result.code == 0, result.summary
    assert fired_by(stream(table), "expcut") == Counter(("p1", sort_key(n)) for n in range(200))
