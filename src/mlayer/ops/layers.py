"""Publishing a layer zip, for build-deps and publish-model alike.

Directly in the request or through the S3 bucket (over Lambda's 50 MB direct
upload limit), then kept in the local artifact store for ``invoke --local``;
on a dry run, everything is checked and only said.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlayer.aws import Aws, upload_route
from mlayer.layerbuild.archive import ZipSummary
from mlayer.layerbuild.build_options import Progress
from mlayer.settings import Settings
from mlayer.store import ArtifactStore, store_key


@dataclass(frozen=True)
class Published:
    version: int
    arn: str
    new: bool = True  # False when an identical version already existed


def artifact_store(settings: Settings) -> ArtifactStore:
    return ArtifactStore(Path(settings.store) if settings.store else None)


def publish_layer_zip(
    aws: Aws,
    settings: Settings,
    layer_name: str,
    summary: ZipSummary,
    *,
    description: str,
    announce: str,
    progress: Progress,
    dry_run: bool,
) -> Published | None:
    """Publish ``summary``'s zip as a new version of ``layer_name`` (saying
    ``announce`` first) and keep it in the store; None on a dry run, which
    checks the route and the bucket and publishes nothing."""
    if dry_run:
        _say_would_publish(aws, progress, layer_name, summary, settings.bucket)
        return None
    progress.message(announce)
    version = aws.publish_layer(
        layer_name,
        summary.path,
        runtime=settings.runtime,
        arch=settings.arch,
        description=description,
        bucket=settings.bucket,
        key=store_key(layer_name, summary.sha256),
    )
    artifact_store(settings).put(summary.path, summary.sha256)  # for invoke --local
    return Published(version.version, version.arn)


def _say_would_publish(
    aws: Aws, progress: Progress, layer_name: str, summary: ZipSummary, bucket: str | None
) -> None:
    route = upload_route(summary.path, bucket)  # refuses a large zip without a bucket
    if route == "s3":
        assert bucket is not None
        aws.check_layer_bucket(bucket)
    via = f"through s3://{bucket}" if route == "s3" else "directly"
    progress.message(
        f"dry run: would publish {summary.path} ({summary.zipped_bytes / 1e6:.1f} MB) "
        f"{via} as a new version of {layer_name}; nothing changed"
    )
