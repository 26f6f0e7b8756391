"""Reproducible zips, their hashes, and safe extraction.

A layer zip is byte-identical for identical inputs: entries sorted, every
timestamp fixed, permissions normalised. That makes its sha256 (and Lambda's
``CodeSha256``) a content address: the same build publishes nothing new.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlayer.errors import MlayerError

# The earliest time a zip can store; any fixed value works.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ZipSummary:
    path: Path
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    entries: int


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lambda_sha256(hex_digest: str) -> str:
    """Lambda's ``CodeSha256`` form (base64 of the raw digest) of a hex sha256."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def hex_sha256(lambda_digest: str) -> str:
    """The hex form of a Lambda ``CodeSha256``."""
    return base64.b64decode(lambda_digest).hex()


def directory_entries(root: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """(name in the zip, file on disk) for every file under ``root``, sorted."""
    entries = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            relative = path.relative_to(root).as_posix()
            entries.append((f"{prefix}{relative}", path))
    return sorted(entries)


def write_zip(
    entries: Iterable[tuple[str, Path]],
    dest: Path,
    *,
    on_entry: Callable[[int], None] | None = None,
    compresslevel: int = 6,
) -> ZipSummary:
    """Write ``entries`` (sorted by name) to ``dest`` reproducibly."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    unzipped = count = 0
    tmp = dest.with_suffix(dest.suffix + ".partial")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, FIXED_DATE_TIME)
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            data = path.read_bytes()
            # A ZipInfo carries no level of its own: without compresslevel here,
            # writestr falls back to zlib's default (6) whatever the archive says.
            archive.writestr(info, data, zipfile.ZIP_DEFLATED, compresslevel)
            unzipped += len(data)
            count += 1
            if on_entry:
                on_entry(len(data))
    tmp.replace(dest)
    return ZipSummary(dest, sha256_file(dest), dest.stat().st_size, unzipped, count)


def summarize_zip(path: Path) -> ZipSummary:
    """The summary of an existing zip (for one built earlier)."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    return ZipSummary(
        path, sha256_file(path), path.stat().st_size, sum(i.file_size for i in infos), len(infos)
    )


def safe_extract(zip_path: Path, dest: Path) -> None:
    """Extract ``zip_path`` into ``dest``, refusing entries that would land outside it.

    Rejects absolute names, ``..`` components and symbolic links (a layer
    entry that points outside /opt would read or overwrite the host here).
    """
    dest = dest.resolve()
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise MlayerError(f"{zip_path} is not a readable zip: {exc}") from exc
    with archive:
        for info in archive.infolist():
            name = PurePosixPath(info.filename)
            mode = info.external_attr >> 16
            if name.is_absolute() or ".." in name.parts or "\\" in info.filename:
                raise MlayerError(
                    f"{zip_path}: entry {info.filename!r} escapes the layer directory"
                )
            if stat.S_ISLNK(mode):
                raise MlayerError(f"{zip_path}: entry {info.filename!r} is a symbolic link")
            target = (dest / name).resolve()
            if not target.is_relative_to(dest):
                raise MlayerError(
                    f"{zip_path}: entry {info.filename!r} escapes the layer directory"
                )
        archive.extractall(dest)
