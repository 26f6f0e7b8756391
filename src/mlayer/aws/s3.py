"""S3: the bucket layer zips are published through, and downloads of published zips."""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path

import botocore.exceptions
from boto3.s3.transfer import TransferConfig

from mlayer.aws._client import AwsClient
from mlayer.errors import AwsError, NotFound, UsageError


class S3Calls(AwsClient):
    def check_layer_bucket(self, bucket: str) -> None:
        """Refuse, before any upload, a bucket Lambda cannot publish a layer from.

        PublishLayerVersion reads the zip only from a bucket in the function's
        region; elsewhere it fails after the whole upload. A caller without
        s3:GetBucketLocation is not refused: publishing will say.
        """
        with self._translate(f"bucket {bucket}"):
            try:
                reply = self._s3.get_bucket_location(Bucket=bucket)
            except botocore.exceptions.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in {"AccessDenied", "403"}:
                    return
                if code == "NoSuchBucket":
                    raise NotFound(
                        f"bucket {bucket} not found: create it in {self.region} or fix --bucket"
                    ) from exc
                raise
        # S3 reports us-east-1 as no constraint, and the oldest eu-west-1 buckets as "EU".
        location = reply.get("LocationConstraint") or "us-east-1"
        region = "eu-west-1" if location == "EU" else location
        if region != self.region:
            raise UsageError(
                f"bucket {bucket} is in {region}, but layers are published in {self.region}: "
                f"Lambda reads layer zips only from a bucket in its own region; use a bucket "
                f"in {self.region} (--bucket) or publish in {region} (--region)"
            )

    def upload(
        self, path: Path, bucket: str, key: str, on_upload: Callable[[int], None] | None = None
    ) -> None:
        """Upload with the transfer manager (multipart, parallel, resumable parts)."""
        config = TransferConfig(multipart_threshold=16 * 1024 * 1024)
        with self._translate(f"s3://{bucket}/{key}"):
            self._s3.upload_file(str(path), bucket, key, Config=config, Callback=on_upload)

    def download_object(self, bucket: str, key: str, dest: Path) -> bool:
        """Download s3://bucket/key with the transfer manager; False when it is not there."""
        try:
            with self._translate(f"s3://{bucket}/{key}"):
                self._s3.download_file(
                    bucket, key, str(dest), Config=TransferConfig(max_concurrency=4)
                )
        except NotFound:
            return False
        except AwsError as exc:
            # download_file reports a missing key as a bare HEAD "404".
            if "404" in str(exc) or "Not Found" in str(exc):
                return False
            raise
        return True

    def download_url(self, url: str, dest: Path) -> bool:
        """Download a layer's presigned URL into ``dest``; False when it cannot be fetched."""
        try:
            with urllib.request.urlopen(url, timeout=60) as reply, dest.open("wb") as handle:
                shutil.copyfileobj(reply, handle, 1 << 20)
        except (OSError, ValueError):
            return False
        return True
