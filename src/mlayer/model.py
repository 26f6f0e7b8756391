"""The model bundle: which joblib files, in what order, and its manifest.

The manifest is the contract between mlayer and the handler: it is written
into the model layer at ``/opt/mlayer-model/manifest.json`` and read by
``handler/mlayer_handler.py`` at cold start. Its fields are:

``format``          always ``"mlayer-model/1"``
``label``           the user's label (``--label``), or null
``created``         ISO-8601 UTC time of ``publish-model``
``content_sha256``  sha256 over the files' names and hashes, in order
``files``           ``[{"name", "sha256", "size", "order", "role"}]``; ``role`` is
                    ``"transform"`` for every file but the last, ``"predict"`` for it
``trained_with``    versions of Python and the numeric libraries that saved the files
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from mlayer.build.archive import sha256_file
from mlayer.errors import UsageError

MANIFEST_FORMAT = "mlayer-model/1"
MODEL_DIR = "mlayer-model"  # -> /opt/mlayer-model in Lambda
MANIFEST_NAME = "manifest.json"
TRACKED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib")

# Lambda's layer version description is at most 256 characters.
DESCRIPTION_LIMIT = 256
# A label is one word of the description (``label=...``), so no spaces or '='.
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+/-]{0,63}$")


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str
    size: int
    order: int
    role: str


@dataclass(frozen=True)
class PickleSummary:
    """What a joblib file refers to, read without running it."""

    globals: frozenset[str]
    sklearn_versions: frozenset[str]

    @property
    def modules(self) -> frozenset[str]:
        return frozenset(name.rsplit(".", 1)[0] for name in self.globals)


@dataclass(frozen=True)
class ModelManifest:
    files: tuple[ModelFile, ...]
    trained_with: dict[str, str]
    label: str | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

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
                "files": [item.__dict__ for item in self.files],
                "trained_with": self.trained_with,
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
            files=tuple(ModelFile(**item) for item in data["files"]),
            trained_with=dict(data["trained_with"]),
            label=data.get("label"),
            created=data["created"],
        )

    def description(self, unzipped_bytes: int | None = None) -> str:
        """The summary kept in the layer version's description, so ``versions``
        can show it without downloading the layer, and deploy can check sizes.

        The hash and the versions come first; only the label is cut when the
        whole would exceed Lambda's 256 characters, so the gate always has them.
        """
        parts = [
            "mlayer-model",
            f"sha256={self.content_sha256[:16]}",
            f"files={len(self.files)}",
        ]
        if unzipped_bytes is not None:
            parts.append(f"unzipped={unzipped_bytes}")
        parts += [f"{_short(lib)}={ver}" for lib, ver in sorted(self.trained_with.items())]
        parts.append(f"label={self.label or '-'}")
        return " ".join(parts)[:DESCRIPTION_LIMIT]


def parse_description(description: str, kind: str = "mlayer-model") -> dict[str, str]:
    """The key=value pairs of a layer description mlayer wrote.

    ``kind`` is the first word: ``mlayer-model`` (``ModelManifest.description``)
    or ``mlayer-deps`` (``build.layer.deps_description``). Another layer's
    description gives an empty dict.
    """
    words = description.split()
    if not words or words[0] != kind:
        return {}
    return dict(part.split("=", 1) for part in words[1:] if "=" in part)


def _short(library: str) -> str:
    return {"scikit-learn": "sklearn"}.get(library, library)


def check_label(label: str | None) -> str | None:
    """A label as given, or a one-line refusal saying what a label may hold."""
    if label is not None and not LABEL_PATTERN.match(label):
        raise UsageError(
            f"--label {label!r} is not a valid label: use up to 64 letters, digits and . _ : + / - "
            "(no spaces), e.g. 20190105v1"
        )
    return label


def build_manifest(paths: Sequence[Path], label: str | None = None) -> ModelManifest:
    """Check each joblib file and describe the bundle, in pipeline order."""
    check_label(label)
    if not paths:
        raise UsageError("no model files given: pass the .joblib files in pipeline order")
    names = [path.name for path in paths]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise UsageError(f"two model files share the name {sorted(duplicates)[0]}; rename one")
    if MANIFEST_NAME in names:
        raise UsageError(f"a model file may not be named {MANIFEST_NAME}: rename it")
    files = []
    saved_with: dict[str, str] = {}  # scikit-learn version -> first file that records it
    for order, path in enumerate(paths):
        for version in sorted(inspect_joblib(path).sklearn_versions):
            saved_with.setdefault(version, path.name)
        role = "predict" if order == len(paths) - 1 else "transform"
        files.append(ModelFile(path.name, sha256_file(path), path.stat().st_size, order, role))
    if len(saved_with) > 1:
        # No single deps layer can load all of them without a version warning.
        found = ", ".join(f"{version} ({name})" for version, name in sorted(saved_with.items()))
        raise UsageError(
            f"the model files were saved with different scikit-learn versions: {found}; "
            "re-save them all with one version"
        )
    trained_with = training_environment()
    # The estimator's own record beats the environment's: the files may have
    # been saved elsewhere than where publish-model runs.
    if saved_with:
        trained_with["scikit-learn"] = next(iter(saved_with))
    return ModelManifest(tuple(files), trained_with, label)


def training_environment() -> dict[str, str]:
    """Versions of Python and the numeric libraries of the environment that saved the model."""
    versions = {"python": ".".join(map(str, sys.version_info[:3]))}
    for library in TRACKED_LIBRARIES:
        try:
            versions[library] = metadata.version(library)
        except metadata.PackageNotFoundError:
            continue
    return versions


# --- reading a joblib file without running it ------------------------------

# Classes a joblib file may really build while we read it: numpy arrays and
# joblib's wrapper that streams their bytes. Everything else is replaced by an
# inert stand-in, so no code named by the pickle runs.
_REAL_GLOBALS = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _StandIn:
    """An inert object standing for any class or function a pickle names."""

    sklearn_versions: set[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and state and isinstance(state[0], dict):
            state = state[0]
        if isinstance(state, dict) and isinstance(state.get("_sklearn_version"), str):
            self.sklearn_versions.add(state["_sklearn_version"])

    def __call__(self, *args: Any, **kwargs: Any) -> _StandIn:
        return self

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


def inspect_joblib(path: Path) -> PickleSummary:
    """The globals a joblib file names and the scikit-learn versions it records.

    Raises a one-line ``UsageError`` naming the file when it is missing or not a
    joblib file.
    """
    if not path.is_file():
        raise UsageError(f"model file {path} does not exist")
    try:
        from joblib import numpy_pickle
    except ImportError as exc:  # pragma: no cover - joblib is a dependency of the model extra
        raise UsageError("reading model files needs joblib: pip install 'mlayer[model]'") from exc

    seen: set[str] = set()
    versions: set[str] = set()
    stand_in = type("StandIn", (_StandIn,), {"sklearn_versions": versions})

    class InertUnpickler(numpy_pickle.NumpyUnpickler):  # type: ignore[misc]
        def find_class(self, module: str, name: str) -> Any:
            seen.add(f"{module}.{name}")
            if (module, name) in _REAL_GLOBALS:
                return super().find_class(module, name)
            return stand_in

    # joblib.load builds its NumpyUnpickler by module-level name; swapping it for
    # the inert subclass for the duration of one load is the least intrusive hook.
    original = numpy_pickle.NumpyUnpickler
    numpy_pickle.NumpyUnpickler = InertUnpickler
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            numpy_pickle.load(path)
    except Exception as exc:  # any failure to parse means "not a joblib file"
        raise UsageError(
            f"model file {path} is not a joblib file ({type(exc).__name__}); "
            "save it with joblib.dump(model, path)"
        ) from exc
    finally:
        numpy_pickle.NumpyUnpickler = original
    return PickleSummary(frozenset(seen), frozenset(versions))
