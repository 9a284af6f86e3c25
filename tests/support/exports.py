"""DynamoDB exports as ExportTableToPointInTime writes them (full export, DYNAMODB_JSON): a folder with
manifest-summary.json, manifest-files.json and gzipped data files under data/, one {"Item": ...} line per item.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

EXPORT_ID = "01700000000000-a1b2c3d4"


def export_files(
    table: str, files: Iterable[Iterable[dict[str, Any]]], output_format: str = "DYNAMODB_JSON", prefix: str = "exp"
) -> dict[str, bytes]:
    """The export's objects by key relative to the bucket (`<prefix>/AWSDynamoDB/<id>/...`): one gzipped data file
    per list of items (an empty list makes an empty file, as for an empty partition). Items may be generated: only
    the compressed files are held."""
    base = f"{prefix}/AWSDynamoDB/{EXPORT_ID}/"
    objects: dict[str, bytes] = {f"{base}_started": b""}
    manifest = []
    for number, items in enumerate(files):
        key = f"{base}data/{hashlib.sha1(str(number).encode()).hexdigest()[:26]}.json.gz"  # noqa: S324 - a name
        lines = [json.dumps({"Item": i}) + "\n" for i in items]
        objects[key] = gzip.compress("".join(lines).encode())
        manifest.append({"itemCount": len(lines), "md5Checksum": "", "etag": "", "dataFileS3Key": key})
    objects[f"{base}manifest-files.json"] = "".join(json.dumps(m) + "\n" for m in manifest).encode()
    summary = {
        "version": "2020-06-30",
        "exportArn": f"arn:aws:dynamodb:eu-west-1:123456789012:table/{table}/export/{EXPORT_ID}",
        "tableArn": f"arn:aws:dynamodb:eu-west-1:123456789012:table/{table}",
        "s3Prefix": prefix,
        "manifestFilesS3Key": f"{base}manifest-files.json",
        "itemCount": sum(m["itemCount"] for m in manifest),
        "outputFormat": output_format,
        "exportType": "FULL_EXPORT",
    }
    objects[f"{base}manifest-summary.json"] = json.dumps(summary).encode()
    return objects


def s3_folder(bucket: str, objects: dict[str, bytes]) -> str:
    """The KEYS_FILE of an export uploaded as `objects` to `bucket`: its folder, ending in /."""
    summary = next(key for key in objects if key.endswith("/manifest-summary.json"))
    return f"s3://{bucket}/{summary.rpartition('/')[0]}/"


def write_export(root: Path, table: str, files: Iterable[Iterable[dict[str, Any]]], **kwargs: Any) -> Path:
    """The export written under `root` as S3 would hold it; returns the export's folder (the KEYS_FILE)."""
    for key, body in export_files(table, files, **kwargs).items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return root / kwargs.get("prefix", "exp") / "AWSDynamoDB" / EXPORT_ID
