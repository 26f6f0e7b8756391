"""aws.Aws against a real moto server over HTTP: the calls mlayer relies on."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from conftest import REGION, Account

from mlayer.aws import DIRECT_UPLOAD_LIMIT, Aws
from mlayer.errors import AwsError, NotFound, UsageError


def make_zip(path: Path, payload: bytes = b"x") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python/a.py", payload)
    return path


def test_publish_lists_newest_first(aws: Account, tmp_path: Path) -> None:
    client = Aws(REGION, endpoint_url=aws.endpoint)
    layer = make_zip(tmp_path / "a.zip")
    for description in ("one", "two"):
        client.publish_layer(
            "lay", layer, runtime="python3.11", arch="x86_64", description=description,
            bucket=None, key="k",
        )  # fmt: skip
    versions = client.layer_versions("lay")
    assert [(v.version, v.description) for v in versions] == [(2, "two"), (1, "one")]
    assert client.layer_version("lay", 1).arn.endswith(":layer:lay:1")


def test_large_zip_goes_through_s3(aws: Account, tmp_path: Path) -> None:
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("python/blob.bin", b"\0" * (DIRECT_UPLOAD_LIMIT + 1024))
    client = Aws(REGION, endpoint_url=aws.endpoint)
    with pytest.raises(UsageError, match="--bucket"):
        client.publish_layer(
            "big", big, runtime="python3.11", arch="x86_64", description="", bucket=None, key="k"
        )
    assert client.layer_versions("big") == []  # refused before anything was published
    version = client.publish_layer(
        "big", big, runtime="python3.11", arch="x86_64", description="", bucket=aws.bucket,
        key="mlayer/big/abc.zip",
    )  # fmt: skip
    assert version.version == 1
    head = aws.client("s3").head_object(Bucket=aws.bucket, Key="mlayer/big/abc.zip")
    assert head["ContentLength"] == big.stat().st_size


def test_missing_things_are_not_found(aws: Account) -> None:
    client = Aws(REGION, endpoint_url=aws.endpoint)
    assert client.function("nope") is None
    assert client.layer_versions("nope") == []
    with pytest.raises(NotFound, match="layer nope version 3"):
        client.layer_version("nope", 3)


def test_unreachable_endpoint_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    from conftest import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(AwsError, match=f"cannot reach {endpoint}"):
        Aws(REGION, endpoint_url=endpoint).layer_versions("x")
