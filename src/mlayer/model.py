"""The model bundle: which model files, in what order, and its manifest.

The manifest is the contract between mlayer and the handler: it is written
into the model layer at ``/opt/mlayer-model/<content id>/manifest.json`` (the
content id is ``content_sha256``'s first 16 characters; layers published before
that layout hold it at ``/opt/mlayer-model/manifest.json``) and read by
``handler/mlayer_loader.py`` at cold start (its format, name and directory are
owned by ``mlayer.contract``; the handler keeps copies of them and of the file
name rule, and tests tie them). Its fields are:

``format``           always ``"mlayer-model/1"``
``label``            the user's label (``--label``), or null
``created``          ISO-8601 UTC time of ``publish-model``
``content_sha256``   sha256 over the files' names and hashes, in order
``files``            ``[{"name", "sha256", "size", "order", "role", "trusted_types"}]``;
                     ``role`` is ``"transform"`` for every file but the last,
                     ``"predict"`` for it; ``trusted_types`` the globals (joblib) or
                     types (skops) outside mlayer's allowlist that the user vouched
                     for with ``--trust-global``: the handler passes a ``.skops``
                     file's list to ``skops.io.load(trusted=...)``. Missing in
                     manifests written before it: read as ``[]``.
``trained_with``     versions of Python and the numeric libraries that saved the
                     files; ``scikit-learn`` lists every version, comma-separated,
                     when the files disagree (``--allow-version-mismatch``)
``trusted_globals``  sorted union of the files' ``trusted_types``

A model file is a ``.joblib`` file (loaded with ``joblib.load``) or a ``.skops``
file (scikit-learn's recommended secure format, loaded with ``skops.io.load``;
the deps layer then needs ``skops`` in its requirements). Before anything is
published, every global a joblib file's pickles name is read without running
it (``mlayer.pickle_scan``) and every type a skops file holds is listed by
``skops.io.get_untrusted_types``; anything outside the allowlist is refused
unless passed with ``--trust-global``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from mlayer import pickle_scan
from mlayer.contract import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MODEL_DIR,
    MODEL_SUFFIXES,
    content_id,
)
from mlayer.descriptions import model_description
from mlayer.errors import UsageError
from mlayer.layerbuild.archive import sha256_file

TRACKED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib")

# A label is one word of the description (``label=...``), so no spaces or '='.
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+/-]{0,63}$")


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str
    size: int
    order: int
    role: str
    trusted_types: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "trusted_types": list(self.trusted_types)}


@dataclass(frozen=True)
class ModelManifest:
    files: tuple[ModelFile, ...]
    trained_with: dict[str, str]
    label: str | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    # File name -> the modules its pickles name, as the scan read them: kept so that
    # the deps-layer check need not scan the files again. Not part of the JSON.
    modules: dict[str, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def trusted_globals(self) -> list[str]:
        return sorted({name for item in self.files for name in item.trusted_types})

    @property
    def content_sha256(self) -> str:
        """Identifies the model itself: same files in the same order, same hash."""
        digest = hashlib.sha256()
        for item in self.files:
            digest.update(f"{item.order}:{item.name}:{item.sha256}\n".encode())
        return digest.hexdigest()

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": MANIFEST_FORMAT,
                "label": self.label,
                "created": self.created,
                "content_sha256": self.content_sha256,
                "files": [item.to_dict() for item in self.files],
                "trained_with": self.trained_with,
                "trusted_globals": self.trusted_globals,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> ModelManifest:
        data = json.loads(text)
        if data.get("format") != MANIFEST_FORMAT:
            raise UsageError(f"unknown model manifest format {data.get('format')!r}")
        return cls(
            files=tuple(
                ModelFile(**{**item, "trusted_types": tuple(item.get("trusted_types", ()))})
                for item in data["files"]
            ),
            trained_with=dict(data["trained_with"]),
            label=data.get("label"),
            created=data["created"],
        )

    def description(self, unzipped_bytes: int | None = None) -> str:
        """The summary kept in the layer version's description (``descriptions``),
        so ``versions`` can show it without downloading the layer, and deploy can
        check sizes."""
        return model_description(
            content_sha256=self.content_sha256,
            files=len(self.files),
            trained_with=self.trained_with,
            label=self.label,
            unzipped_bytes=unzipped_bytes,
        )


@dataclass(frozen=True)
class LayerModel:
    """The model a model layer zip holds, as the handler will find it under /opt."""

    content_id: str
    own_directory: bool  # under mlayer-model/<content id>/; False: a layer of the old layout


def layer_model(zip_path: Path) -> LayerModel:
    """Which model ``zip_path`` (a model layer zip) holds, read from its manifest."""
    if not zip_path.is_file():
        raise UsageError(f"model layer zip {zip_path} does not exist")
    old = f"{MODEL_DIR}/{MANIFEST_NAME}"
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = [
                name
                for name in archive.namelist()
                if name == old
                or (name.startswith(f"{MODEL_DIR}/") and name.endswith(f"/{MANIFEST_NAME}"))
            ]
            manifest = json.loads(archive.read(names[0])) if len(names) == 1 else None
    except (OSError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        raise UsageError(f"{zip_path} is not a readable model layer zip: {exc}") from exc
    if len(names) != 1:
        raise UsageError(
            f"{zip_path} is not a model layer zip: it holds {len(names)} "
            f"{MODEL_DIR}/…/{MANIFEST_NAME} (one expected); make one with mlayer publish-model"
        )
    sha = manifest.get("content_sha256") if isinstance(manifest, dict) else None
    if not isinstance(sha, str) or not sha:
        raise UsageError(f"{zip_path}: its manifest {names[0]} has no content_sha256")
    return LayerModel(content_id(sha), own_directory=names[0] != old)


def check_label(label: str | None) -> str | None:
    """A label as given, or a one-line refusal saying what a label may hold."""
    if label is not None and not LABEL_PATTERN.match(label):
        raise UsageError(
            f"--label {label!r} is not a valid label: use up to 64 letters, digits and . _ : + / - "
            "(no spaces), e.g. 20190105v1"
        )
    return label


def model_file_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a model file in the layer, or None: it must be a
    plain file name ending in .joblib or .skops. The handler applies the same
    rule (``mlayer_loader.model_file_name_problem``)."""
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        return "is not a plain file name (no / or \\, not . or ..)"
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "has a control character"
    if name == MANIFEST_NAME:
        return "is the manifest's own name"
    if not name.endswith(MODEL_SUFFIXES):
        return "does not end in .joblib or .skops"
    return None


def check_trust_globals(names: Sequence[str]) -> tuple[str, ...]:
    """The ``--trust-global`` values, each ``MODULE.NAME``, or a one-line refusal."""
    for name in names:
        module, _, attr = name.rpartition(".")
        if not module or not attr or any(char.isspace() for char in name):
            raise UsageError(
                f"--trust-global {name!r} is not MODULE.NAME: name the global as the refusal "
                "printed it, e.g. --trust-global mypackage.features.TextCleaner"
            )
    return tuple(names)


def build_manifest(
    paths: Sequence[Path],
    label: str | None = None,
    *,
    trust_globals: Sequence[str] = (),
    allow_version_mismatch: bool = False,
) -> ModelManifest:
    """Check each model file and describe the bundle, in pipeline order.

    Refuses, before anything is published: a bad name, a file that names a
    global (joblib) or type (skops) neither allowed nor in ``trust_globals``,
    and files saved with different scikit-learn versions unless
    ``allow_version_mismatch``.
    """
    check_label(label)
    trusted = set(check_trust_globals(trust_globals))
    if not paths:
        raise UsageError("no model files given: pass the .joblib files in pipeline order")
    for path in paths:
        problem = model_file_name_problem(path.name)
        if problem:
            raise UsageError(
                f"model file name {path.name!r} {problem}: rename the file to a plain name "
                "ending in .joblib or .skops, e.g. 3_classifier.joblib"
            )
    names = [path.name for path in paths]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise UsageError(f"two model files share the name {sorted(duplicates)[0]}; rename one")
    files = []
    modules: dict[str, frozenset[str]] = {}
    saved_with: dict[str, str] = {}  # scikit-learn version -> first file that records it
    for order, path in enumerate(paths):
        summary = inspect_model_file(path)
        refused = [name for name in summary.needs_trust if name not in trusted]
        if refused:
            raise UsageError(
                f"model file {path} refers to {_printable(refused[0])}, which mlayer does not "
                f"trust: {summary.why}; if you trust it, pass "
                f"--trust-global {_printable(refused[0])}"
            )
        modules[path.name] = summary.modules
        for version in sorted(summary.sklearn_versions):
            saved_with.setdefault(version, path.name)
        role = "predict" if order == len(paths) - 1 else "transform"
        files.append(
            ModelFile(
                path.name,
                sha256_file(path),
                path.stat().st_size,
                order,
                role,
                tuple(summary.needs_trust),
            )
        )
    if len(saved_with) > 1 and not allow_version_mismatch:
        # No single deps layer can load all of them without a version warning.
        found = ", ".join(f"{version} ({name})" for version, name in sorted(saved_with.items()))
        raise UsageError(
            f"the model files were saved with different scikit-learn versions: {found}; "
            "re-save them all with one version, or pass --allow-version-mismatch"
        )
    trained_with = training_environment()
    # The estimator's own record beats the environment's: the files may have
    # been saved elsewhere than where publish-model runs. Several versions are
    # all recorded, so that no deps layer passes the gate without the allowance.
    if saved_with:
        trained_with["scikit-learn"] = ",".join(sorted(saved_with))
    return ModelManifest(tuple(files), trained_with, label, modules=modules)


def _printable(name: str) -> str:
    """A global's name for a one-line message: odd characters escaped."""
    return name if name.isprintable() else ascii(name)


def training_environment() -> dict[str, str]:
    """Versions of Python and the numeric libraries of the environment that saved the model."""
    versions = {"python": ".".join(map(str, sys.version_info[:3]))}
    for library in TRACKED_LIBRARIES:
        try:
            versions[library] = metadata.version(library)
        except metadata.PackageNotFoundError:
            continue
    return versions


# --- reading a model file without running it -------------------------------


@dataclass(frozen=True)
class PickleSummary:
    """What a model file refers to, read without running it.

    ``globals``: every ``module.name`` a joblib file's pickles name, or every
    type a skops file holds; ``needs_trust``: those outside the allowlist
    (``pickle_scan.is_allowed``, or skops' own trusted types), sorted.
    """

    globals: frozenset[str]
    sklearn_versions: frozenset[str]
    needs_trust: tuple[str, ...] = ()
    why: str = "a pickle runs what it names when loaded"  # why needs_trust matters

    @property
    def modules(self) -> frozenset[str]:
        return frozenset(name.rsplit(".", 1)[0] for name in self.globals)


def inspect_model_file(path: Path) -> PickleSummary:
    """A ``.skops`` or joblib file's globals, read without running it; one-line
    ``UsageError`` naming the file when it is missing or cannot be read."""
    if not path.is_file():
        raise UsageError(f"model file {path} does not exist")
    if path.suffix == ".skops":
        return _inspect_skops(path)
    try:
        scan = pickle_scan.scan_joblib(path)
    except pickle_scan.TooLarge as exc:
        raise UsageError(
            f"model file {path} was refused unread: {exc}; save a smaller model "
            "(fewer features or estimators)"
        ) from exc
    except pickle_scan.ScanError as exc:
        raise UsageError(
            f"model file {path} is not a joblib file mlayer can read without running it: {exc}; "
            "save it with joblib.dump(model, path)"
        ) from exc
    return PickleSummary(
        scan.globals,
        scan.sklearn_versions,
        tuple(pickle_scan.untrusted_globals(scan.globals)),
    )


def _inspect_skops(path: Path) -> PickleSummary:
    """A skops file: its types from ``schema.json``, its untrusted types from skops."""
    limit = pickle_scan.MAX_EXPANDED_BYTES
    try:
        with zipfile.ZipFile(path) as archive:
            # zipfile never inflates a member past its declared size.
            declared = sum(info.file_size for info in archive.infolist())
            if declared > limit:
                raise UsageError(
                    f"model file {path} was refused unread: it expands to {declared:,} bytes, "
                    f"more than {limit:,} (Lambda's largest memory); save a smaller model"
                )
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UsageError(
            f"model file {path} is not a skops file ({type(exc).__name__}); "
            "save it with skops.io.dump(model, path)"
        ) from exc
    try:
        from skops.io import get_untrusted_types
    except ImportError as exc:
        raise UsageError(
            f"reading {path} needs skops: pip install skops (and add skops to the deps "
            "layer's requirements.txt, which loads it)"
        ) from exc
    try:
        untrusted = get_untrusted_types(file=path)
    except Exception as exc:  # skops' own refusal of a file it cannot audit
        raise UsageError(f"model file {path}: skops cannot read it ({exc})") from exc
    types: set[str] = set()
    versions: set[str] = set()
    _walk_skops_schema(schema, types, versions)
    return PickleSummary(
        frozenset(types),
        frozenset(versions),
        tuple(sorted(untrusted)),
        "skops builds every type it names when loading",
    )


def _walk_skops_schema(node: Any, types: set[str], versions: set[str]) -> None:
    """Every ``module.class`` in a skops schema, and its ``_sklearn_version`` values."""
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            if isinstance(item.get("__module__"), str) and isinstance(item.get("__class__"), str):
                types.add(f"{item['__module__']}.{item['__class__']}")
            version = item.get("_sklearn_version")
            if isinstance(version, dict) and isinstance(version.get("content"), str):
                try:
                    value = json.loads(version["content"])
                except ValueError:
                    value = None
                if isinstance(value, str):
                    versions.add(value)
            pending.extend(item.values())
