"""The build manifest written beside the deps layer zip, and the cache key.

``deps-build.json`` records what went into the zip (package versions and wheel
tags, runtime, arch, builder, options, sizes, sha256, for a pruned layer
the modules it kept, and with ``--defer-imports`` the modules the handler defers
with the time each saves). It is what makes a rebuild with unchanged inputs a cache
hit (``cached_zip``), and what ``publish-model`` reads to refuse a model the
layer cannot load (``check_model_modules``). ``deps_manifest`` writes its
fields; this module is the one place that reads them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlayer.layerbuild.archive import ZipSummary, sha256_file
from mlayer.layerbuild.dists import Distribution, versions_of

if TYPE_CHECKING:
    from mlayer.layerbuild.budget import LayerBudget
    from mlayer.targets import Target

DEPS_ZIP_NAME = "deps-layer.zip"  # written beside the manifest in --out
MANIFEST_FILE = "deps-build.json"
FORMAT = "mlayer-deps-build/1"


def cache_key(inputs: Mapping[str, Any]) -> str:
    """A digest of everything that decides the layer's bytes."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def write_manifest(out: Path, data: Mapping[str, Any]) -> Path:
    path = out / MANIFEST_FILE
    path.write_text(json.dumps({"format": FORMAT, **data}, indent=2, sort_keys=True) + "\n")
    return path


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest of the last build in ``out``, or None when there is none (or unreadable)."""
    path = out / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def deps_manifest(
    target: Target,
    inputs: Mapping[str, Any],
    key: str,
    dists: list[Distribution],
    sizes: Mapping[str, int],
    summary: ZipSummary,
    budget: LayerBudget,
    installed_bytes: int,
    kept_modules: list[str] | None,
    deferred: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What ``write_manifest`` records of a build that just wrote ``summary``'s zip."""
    return {
        "cache_key": key,
        "inputs": inputs,
        "runtime": target.runtime,
        "arch": target.arch,
        "python": target.python_dotted,
        "glibc": target.glibc_dotted,
        "platform_tags": list(target.platform_tags),
        "packages": {
            d.name: {
                "version": d.version,
                "tags": list(d.tags),
                "top_level": list(d.top_level),
                "bytes": sizes.get(d.name, 0),
            }
            for d in dists
        },
        "versions": versions_of(dists),
        "sizes": {
            "installed": installed_bytes,
            "unzipped": summary.unzipped_bytes,
            "zipped": summary.zipped_bytes,
            "reserved": budget.reserved_bytes,
        },
        "upload": budget.upload,
        "sha256": summary.sha256,
        "entries": summary.entries,
        "modules": kept_modules,
        # only with --defer-imports (defer.Deferral.manifest), so other builds read as before
        **({"deferred": dict(deferred)} if deferred is not None else {}),
    }


def deferred_modules(data: Mapping[str, Any]) -> list[str]:
    """The modules a build manifest says the handler defers (none without --defer-imports)."""
    deferred = data.get("deferred") or {}
    return [m["name"] for m in deferred.get("modules", []) if isinstance(m, dict) and "name" in m]


def cached_zip(out: Path, key: str) -> tuple[ZipSummary, dict[str, Any]] | None:
    """The zip in ``out`` and its manifest when the last build there had cache key
    ``key`` and the zip is still the one it wrote; None otherwise (rebuild)."""
    manifest = read_manifest(out)
    zip_path = out / DEPS_ZIP_NAME
    if not manifest or manifest.get("cache_key") != key or not zip_path.is_file():
        return None
    if sha256_file(zip_path) != manifest.get("sha256"):
        return None  # the zip was changed or replaced since: rebuild
    summary = ZipSummary(
        zip_path,
        manifest["sha256"],
        manifest["sizes"]["zipped"],
        manifest["sizes"]["unzipped"],
        manifest["entries"],
    )
    return summary, manifest


@dataclass(frozen=True)
class LayerContents:
    """What modules a deps layer can import, from its build manifest."""

    top_level: frozenset[str]
    modules: frozenset[str] | None  # None: not pruned, every module of top_level is there

    @classmethod
    def from_manifest(cls, data: Mapping[str, Any]) -> LayerContents:
        top = {n for p in data.get("packages", {}).values() for n in p.get("top_level", ())}
        modules = data.get("modules")
        return cls(frozenset(top), frozenset(modules) if modules is not None else None)

    def missing(self, modules: Iterable[str]) -> list[str]:
        """The modules (named by a pickle) this layer cannot import; stdlib ones are fine."""
        missing = []
        for module in sorted(set(modules)):
            top = module.split(".", 1)[0]
            if top in sys.stdlib_module_names or top in sys.builtin_module_names:
                continue
            pruned_away = self.modules is not None and module not in self.modules
            if top not in self.top_level or pruned_away:
                missing.append(module)
        return missing


def check_model_modules(out: Path, files: Iterable[tuple[Path, frozenset[str]]]) -> int | None:
    """Refuse a model whose pickle names a module the locally built deps layer lacks.

    ``files`` are (model file, the modules its pickles name, as the scan read them).
    Returns how many files were checked, or None when there is no build manifest
    in ``out`` to check against.
    """
    from mlayer.errors import UsageError

    data = read_manifest(out)
    if data is None:
        return None
    contents = LayerContents.from_manifest(data)
    count = 0
    for path, modules in files:
        missing = contents.missing(modules)
        if missing:
            how = (
                "the layer was pruned to another model's modules: rebuild it with "
                f"build-deps --prune --sample-model {path} ..., or without --prune"
                if contents.modules is not None and missing[0].split(".")[0] in contents.top_level
                else "add the package that provides it to the requirements and rebuild"
            )
            raise UsageError(
                f"model file {path} needs module {missing[0]}, which the deps layer built in "
                f"{out} does not contain ({out / MANIFEST_FILE}): {how}"
            )
        count += 1
    return count
