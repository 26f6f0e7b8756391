"""Lambda layers: publish (directly or through S3), list, read, delete."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlayer.arns import layer_name_of
from mlayer.aws.s3 import S3Calls
from mlayer.errors import UsageError
from mlayer.layerbuild.budget import DIRECT_UPLOAD_LIMIT
from mlayer.state import LayerVersion


def upload_route(zip_path: Path, bucket: str | None) -> str:
    """``direct`` (in the PublishLayerVersion request) or ``s3``; a large zip
    without a bucket is refused, naming the flag to pass."""
    size = zip_path.stat().st_size
    if size <= DIRECT_UPLOAD_LIMIT:
        return "direct"
    if not bucket:
        raise UsageError(
            f"{zip_path} is {size / 1e6:.1f} MB, over Lambda's 50 MB direct upload "
            "limit: pass --bucket (or set bucket in mlayer.toml) to publish through S3"
        )
    return "s3"


class LayerCalls(S3Calls):
    def publish_layer(
        self,
        name: str,
        zip_path: Path,
        *,
        runtime: str,
        arch: str,
        description: str,
        bucket: str | None,
        key: str,
        on_upload: Callable[[int], None] | None = None,
    ) -> LayerVersion:
        """Publish ``zip_path`` as a new version of ``name``; through S3 when large."""
        size = zip_path.stat().st_size
        if upload_route(zip_path, bucket) == "s3":
            assert bucket is not None
            self.check_layer_bucket(bucket)
            self.upload(zip_path, bucket, key, on_upload=on_upload)
            content: dict[str, Any] = {"S3Bucket": bucket, "S3Key": key}
        else:
            content = {"ZipFile": zip_path.read_bytes()}
            if on_upload:
                on_upload(size)
        with self._translate(f"layer {name}"):
            reply = self._lambda.publish_layer_version(
                LayerName=name,
                Description=description,
                Content=content,
                CompatibleRuntimes=[runtime],
                CompatibleArchitectures=[arch],
            )
        return _layer_version(name, reply)

    def layer_versions(self, name: str) -> list[LayerVersion]:
        """Every version of layer ``name``, newest first; empty when there is none."""
        versions: list[LayerVersion] = []
        with self._translate(f"layer {name}"):
            pages = self._lambda.get_paginator("list_layer_versions").paginate(LayerName=name)
            for page in pages:
                versions += [_layer_version(name, item) for item in page["LayerVersions"]]
        return sorted(versions, key=lambda v: v.version, reverse=True)

    def layer_version(self, name: str, version: int) -> LayerVersion:
        with self._translate(f"layer {name} version {version}"):
            reply = self._lambda.get_layer_version(LayerName=name, VersionNumber=version)
        return _layer_version(name, reply)

    def layer_version_by_arn(self, arn: str) -> LayerVersion:
        """A layer version by its ARN, with the content's sha256 and download location."""
        # GetLayerVersion takes the layer's ARN as its name (another account's
        # layer too); moto has no GetLayerVersionByArn.
        layer_arn, version = arn.rsplit(":", 1)
        with self._translate(f"layer version {arn}"):
            reply = self._lambda.get_layer_version(LayerName=layer_arn, VersionNumber=int(version))
        return _layer_version(layer_name_of(arn), reply)

    def delete_layer_version(self, name: str, version: int) -> None:
        with self._translate(f"layer {name} version {version}"):
            self._lambda.delete_layer_version(LayerName=name, VersionNumber=version)


def _layer_version(name: str, item: dict[str, Any]) -> LayerVersion:
    content = item.get("Content", {})
    return LayerVersion(
        name=name,
        version=int(item["Version"]),
        arn=item["LayerVersionArn"],
        description=item.get("Description", ""),
        created=item.get("CreatedDate", ""),
        code_sha256=content.get("CodeSha256", ""),
        code_size=int(content.get("CodeSize", 0)),
        location=content.get("Location", ""),
    )
