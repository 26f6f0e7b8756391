"""What pip put in a layer: the installed distributions, read from their .dist-info.

The WHEEL file of each distribution records the tags of the wheel that was
installed; checking them against the target is what keeps the build machine's
own platform or Python from leaking into a layer.
"""

from __future__ import annotations

import base64
import csv
import email.parser
import hashlib
import io
import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.tags import Tag, parse_tag
from packaging.utils import canonicalize_name

from mlayer.errors import BuildError
from mlayer.targets import Target


@dataclass(frozen=True)
class Distribution:
    """One installed distribution in a layer's site directory."""

    name: str  # canonical, e.g. scikit-learn
    version: str
    dist_info: str  # directory name, e.g. scikit_learn-1.7.2.dist-info
    tags: tuple[str, ...]  # from WHEEL, e.g. cp311-cp311-manylinux_2_17_x86_64
    top_level: tuple[str, ...]  # importable names, e.g. sklearn
    roots: tuple[str, ...]  # first path components it owns, e.g. sklearn, scikit_learn.libs


def read_distributions(site: Path) -> list[Distribution]:
    """Every distribution installed in ``site``, sorted by name."""
    found = []
    for info in sorted(site.glob("*.dist-info")):
        metadata = email.parser.Parser().parsestr((info / "METADATA").read_text(errors="replace"))
        wheel = (info / "WHEEL").read_text() if (info / "WHEEL").is_file() else ""
        tags = tuple(
            line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")
        )
        roots = _roots(info)
        found.append(
            Distribution(
                name=canonicalize_name(metadata["Name"] or info.name.split("-")[0]),
                version=metadata["Version"] or info.name.split("-")[1].removesuffix(".dist-info"),
                dist_info=info.name,
                tags=tags,
                top_level=_top_level(info, roots),
                roots=roots,
            )
        )
    return sorted(found, key=lambda d: d.name)


def _record_paths(info: Path) -> list[str]:
    record = info / "RECORD"
    if not record.is_file():
        return []
    with record.open(newline="") as handle:
        return [row[0] for row in csv.reader(handle) if row]


def _roots(info: Path) -> tuple[str, ...]:
    roots = {info.name}
    for path in _record_paths(info):
        first = path.replace("\\", "/").split("/", 1)[0]
        if first and first != ".." and first != "__pycache__":
            roots.add(first)
    return tuple(sorted(roots))


def _top_level(info: Path, roots: Iterable[str]) -> tuple[str, ...]:
    listed = info / "top_level.txt"
    if listed.is_file():
        names = {line.strip().replace("/", ".") for line in listed.read_text().splitlines()}
        return tuple(sorted(n for n in names if n and "." not in n))
    names = set()
    for root in roots:
        if root.endswith((".dist-info", ".libs", ".data", ".pth")) or root.startswith("_distutils"):
            continue
        if root.endswith(".py"):
            names.add(root[:-3])
        elif ".cpython-" in root or root.endswith(".so"):
            names.add(root.split(".", 1)[0])
        elif "." not in root and root.isidentifier():
            names.add(root)
    return tuple(sorted(names))


def versions_of(distributions: Iterable[Distribution]) -> dict[str, str]:
    return {d.name: d.version for d in distributions}


def check_wheel_tags(
    distributions: Iterable[Distribution], target: Target, *, built_in_image: bool = False
) -> None:
    """Refuse the layer if any installed wheel cannot load on ``target``, naming it."""
    for dist in distributions:
        if not dist.tags:
            raise BuildError(
                f"{dist.name} {dist.version} has no WHEEL tags ({dist.dist_info}): "
                "it was not installed from a wheel, so mlayer cannot tell if it loads on "
                f"{target.runtime}/{target.arch}"
            )
        parsed: set[Tag] = set()
        for text in dist.tags:
            parsed |= parse_tag(text)
        if not any(target.accepts(tag, built_in_image=built_in_image) for tag in parsed):
            raise BuildError(
                f"{dist.name} {dist.version} was installed from a wheel tagged "
                f"{', '.join(sorted(dist.tags))}, which {target.runtime}/{target.arch} "
                f"(glibc {target.glibc_dotted}; {target.tags_summary}) cannot load: "
                "pin a version that ships a compatible wheel"
            )


def root_owners(distributions: Iterable[Distribution]) -> dict[str, str]:
    """First path component in the site directory -> the distribution that owns it."""
    return {root: dist.name for dist in distributions for root in dist.roots}


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                total += os.path.getsize(full)
    return total


def package_sizes(site: Path, distributions: Iterable[Distribution]) -> dict[str, int]:
    """Bytes on disk per distribution (its modules, libraries, metadata), biggest first."""
    owners = root_owners(distributions)
    sizes: dict[str, int] = {}
    for entry in site.iterdir():
        owner = owners.get(entry.name, entry.name)
        sizes[owner] = sizes.get(owner, 0) + tree_size(entry)
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


def rewrite_records(site: Path, cache_tag: str) -> None:
    """Make every RECORD list what the layer holds now, with fresh hashes.

    Slimming, pruning, stripping and compiling change what pip recorded. A RECORD
    that still lists deleted files and old hashes misleads ``importlib.metadata``
    and anyone auditing the layer, and on a pruned layer it is most of the
    metadata's size. A compiled module is listed under its ``.pyc``: beside the
    source's old place when sourceless, else in ``__pycache__`` (``cache_tag``,
    e.g. ``cpython-311``). Each RECORD is replaced, never edited in place: the
    layer's files may be hard links to the unslimmed build.
    """
    for info in sorted(site.glob("*.dist-info")):
        record = info / "RECORD"
        if not record.is_file():
            continue
        rows: list[tuple[str, str, str]] = []
        for path in _record_paths(info):
            for candidate in _current_forms(path, cache_tag):
                file = site / candidate
                if candidate != f"{info.name}/RECORD" and file.is_file():
                    data = file.read_bytes()
                    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
                    rows.append(
                        (candidate, f"sha256={digest.rstrip(b'=').decode()}", str(len(data)))
                    )
        rows.append((f"{info.name}/RECORD", "", ""))
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(sorted(set(rows)))
        fresh = record.with_name("RECORD.new")
        fresh.write_text(text.getvalue())
        fresh.replace(record)


def _current_forms(path: str, cache_tag: str) -> list[str]:
    """Where a RECORD entry may be now: itself, or its bytecode if it was a module."""
    path = path.replace("\\", "/")
    if not path.endswith(".py"):
        return [path]
    folder, name = posixpath.split(path)
    cached = posixpath.join(folder, "__pycache__", f"{name[:-3]}.{cache_tag}.pyc")
    return [path, path + "c", cached]
