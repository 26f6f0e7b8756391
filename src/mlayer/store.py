"""mlayer's local store of published layer zips, keyed by their sha256.

Every zip mlayer publishes is copied here, so ``invoke --local --model-version
N`` finds the bytes of version N by its ``CodeSha256`` without downloading
them. Where the store has nothing, the zip is fetched from the S3 bucket mlayer
publishes through, then from the layer's download URL, checked against its
``CodeSha256`` and kept here for next time.

The store lives in ``$XDG_CACHE_HOME/mlayer/layers`` (``~/.cache/mlayer/layers``)
unless ``store`` is set in mlayer.toml. Deleting it loses nothing published.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlayer.errors import MlayerError, NotFound
from mlayer.layerbuild.archive import hex_sha256, sha256_file


def default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "mlayer" / "layers"


def store_key(layer_name: str, sha256: str) -> str:
    """The S3 key mlayer publishes a layer zip under (one place for the convention)."""
    return f"mlayer/{layer_name}/{sha256}.zip"


class ArtifactStore:
    """A directory of zips named ``<sha256>.zip``; a name is a promise about the bytes."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_root()

    def path_for(self, sha256: str) -> Path:
        return self.root / f"{sha256}.zip"

    def get(self, sha256: str) -> Path | None:
        """The stored zip with this sha256, or None; a corrupt copy is dropped."""
        path = self.path_for(sha256)
        if not path.is_file():
            return None
        if sha256_file(path) != sha256:
            path.unlink(missing_ok=True)
            return None
        return path

    def put(self, source: Path, sha256: str | None = None) -> Path:
        """Copy ``source`` in (atomically: a reader never sees half a zip)."""
        digest = sha256 or sha256_file(source)
        dest = self.path_for(digest)
        if dest.is_file():
            return dest
        self.root.mkdir(parents=True, exist_ok=True)
        # A copy, not a link: the build directory is rewritten by the next build.
        handle, tmp = tempfile.mkstemp(dir=self.root, suffix=".partial")
        os.close(handle)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return dest

    def adopt(self, downloaded: Path, sha256: str) -> Path:
        """Move a file fetched into ``partial_path`` into place once its hash is right."""
        actual = sha256_file(downloaded)
        if actual != sha256:
            downloaded.unlink(missing_ok=True)
            raise MlayerError(
                f"downloaded zip has sha256 {actual[:16]}..., not {sha256[:16]}... as Lambda "
                "lists it: the download is corrupt or the object was replaced; try again"
            )
        dest = self.path_for(sha256)
        os.replace(downloaded, dest)
        return dest

    def partial_path(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=self.root, suffix=".partial")
        os.close(handle)
        return Path(tmp)


class LayerSource(Protocol):
    """The read-only AWS calls fetching needs (``mlayer.aws.Aws`` provides them)."""

    def download_object(self, bucket: str, key: str, dest: Path) -> bool: ...

    def download_url(self, url: str, dest: Path) -> bool: ...


@dataclass(frozen=True)
class Fetched:
    path: Path
    source: str  # "store", "s3://bucket/key" or "url"


def fetch_layer_zip(
    source: LayerSource,
    store: ArtifactStore,
    *,
    layer_name: str,
    version: int,
    code_sha256: str,
    location: str,
    bucket: str | None,
    allow_http: bool = False,
) -> Fetched:
    """The zip of a published layer version: from the store, else S3, else its URL.

    The URL is followed when it is ``https://`` (Lambda's presigned URL), or
    ``http://`` with ``allow_http`` (an emulator at the configured endpoint URL
    serves plain HTTP). The refusal lists only the sources actually tried.
    """
    sha256 = hex_sha256(code_sha256)
    stored = store.get(sha256)
    if stored:
        return Fetched(stored, "store")
    tried = [f"the local store {store.root}"]
    if bucket:
        key = store_key(layer_name, sha256)
        partial = store.partial_path()
        if source.download_object(bucket, key, partial):
            return Fetched(store.adopt(partial, sha256), f"s3://{bucket}/{key}")
        partial.unlink(missing_ok=True)
        tried.append(f"s3://{bucket}/{key}")
    shown = location.split("?", 1)[0]  # a presigned URL's query holds credentials
    schemes = ("https://", "http://") if allow_http else ("https://",)
    skipped = ""
    if location.startswith(schemes):
        partial = store.partial_path()
        if source.download_url(location, partial):
            return Fetched(store.adopt(partial, sha256), "url")
        partial.unlink(missing_ok=True)
        tried.append(f"its download URL ({shown})")
    elif location.startswith("http://"):
        skipped = f" (its download URL {shown} is plain http: followed only with --endpoint-url)"
    else:
        # moto, for one, gives an s3:// location with nothing behind it
        skipped = f" (Lambda gave no download URL: {shown or 'none'})"
    raise NotFound(
        f"cannot get the zip of {layer_name}:{version} (sha256 {sha256[:16]}...): tried "
        f"{', '.join(tried)}{skipped}; pass --deps-zip/--model-zip, or --bucket where it "
        "was published"
    )
