"""Load the model layer at cold start, refusing anything not exactly as published.

Stdlib, plus joblib/scikit-learn/numpy from the deps layer. A pickle runs code
when it is loaded, so the model layer is code: before ``joblib.load`` sees any
file, every file is checked against the manifest (the format is documented in
mlayer/model.py): no extra file, no missing file, every sha256 equal. Then the
versions the model was saved with are compared with the deps layer's, and
scikit-learn's ``InconsistentVersionWarning`` is turned into the same refusal,
unless the deploy allowed the mismatch (``MLAYER_ALLOW_VERSION_MISMATCH``).

Where: ``find_model_dir``. A model layer holds its files in
``/opt/mlayer-model/<content id>/`` (two model layers, live and shadow, sit side
by side); a layer published before that layout holds them in
``/opt/mlayer-model/`` itself, and still loads.

``.joblib`` files are loaded with ``joblib.load``; ``.skops`` files with
``skops.io.load(path, trusted=<the file's trusted_types in the manifest>)``,
which needs ``skops`` in the deps layer (in its requirements.txt).
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any

# Copies of mlayer/contract.py's (the handler never imports mlayer); tests/test_contract.py
# ties them.
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "mlayer-model/1"
MODEL_SUFFIXES = (".joblib", ".skops")
CONTENT_ID_CHARS = 16
WAYS_OUT = (
    "rebuild the deps layer with the model's versions, or retrain the model with the deps "
    "layer's; mlayer deploy --allow-version-mismatch loads it anyway"
)


class ModelLayerError(RuntimeError):
    """The model layer cannot be trusted or loaded; nothing was loaded."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_file_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a model file in the layer, or None: it must be a
    plain file name ending in .joblib or .skops (mlayer/model.py's rule)."""
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        return "is not a plain file name (no / or \\, not . or ..)"
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "has a control character"
    if name == MANIFEST_NAME:
        return "is the manifest's own name"
    if not name.endswith(MODEL_SUFFIXES):
        return "does not end in .joblib or .skops"
    return None


def is_model_subdir(path: Path) -> bool:
    """Whether ``path`` is a model's own directory: named by a content id (hex)."""
    name = path.name
    return (
        len(name) == CONTENT_ID_CHARS
        and all(char in "0123456789abcdef" for char in name)
        and path.is_dir()
    )


def model_subdirs(base: Path) -> list[str]:
    """The content ids of the models under ``base``, sorted."""
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if is_model_subdir(p))


def find_model_dir(base: Path, content_id: str | None) -> Path:
    """The directory holding model ``content_id`` (None: the only model) under ``base``.

    ``base`` is /opt/mlayer-model. ``base/<content id>/`` is where a model layer puts
    its files; a layer published before that layout has them in ``base`` itself,
    and so does a directory given straight as ``MLAYER_MODEL_DIR``: then ``base``
    is the model's directory, and its manifest's content hash is checked later
    against ``content_id`` like any other.
    """
    if content_id:
        wanted = base / content_id[:CONTENT_ID_CHARS]
        if (wanted / MANIFEST_NAME).is_file():
            return wanted
    if (base / MANIFEST_NAME).is_file():
        return base
    found = model_subdirs(base)
    if content_id:
        raise ModelLayerError(
            f"model {content_id} is not under {base} (the linked model layers hold: "
            f"{', '.join(found) or 'no model'}): link its layer with mlayer deploy"
        )
    if len(found) == 1:
        return base / found[0]
    if found:
        raise ModelLayerError(
            f"{base} holds several models ({', '.join(found)}) and the function does not "
            "say which is live: deploy it with mlayer deploy, which does"
        )
    raise ModelLayerError(
        f"no model manifest at {base / MANIFEST_NAME}: is the model layer linked?"
    )


def read_manifest(model_dir: Path) -> dict[str, Any]:
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise ModelLayerError(f"no model manifest at {path}: is the model layer linked?")
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        names = [item["name"] for item in files]
        for item in files:
            str(item["sha256"]), int(item["order"]), int(item["size"])
            trusted = item.get("trusted_types", [])
            if not isinstance(trusted, list) or not all(isinstance(t, str) for t in trusted):
                raise TypeError(f"trusted_types of {item['name']!r} is not a list of names")
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLayerError(f"model manifest {path} is not valid: {exc!r}") from exc
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ModelLayerError(
            f"model manifest {path} has unknown format {manifest.get('format')!r}"
        )
    for name in names:
        # Names are plain file names: nothing may point outside the model directory.
        problem = model_file_name_problem(name) if isinstance(name, str) else "is not a string"
        if problem:
            raise ModelLayerError(
                f"model manifest {path} names an invalid file {name!r}: it {problem}; "
                "publish the model again with mlayer publish-model"
            )
    return dict(manifest)


def content_sha256(entries: list[dict[str, Any]]) -> str:
    """The manifest's ``content_sha256``, recomputed (same rule as mlayer/model.py)."""
    digest = hashlib.sha256()
    for item in entries:
        digest.update(f"{item['order']}:{item['name']}:{item['sha256']}\n".encode())
    return digest.hexdigest()


def verified_model_files(
    model_dir: Path, manifest: dict[str, Any] | None = None, expected_sha256: str | None = None
) -> list[Path]:
    """The model files in pipeline order, each checked against the manifest.

    ``expected_sha256`` (a prefix of the content hash, which ``mlayer deploy``
    records on the function) also ties the layer to what was deployed.
    """
    manifest = manifest if manifest is not None else read_manifest(model_dir)
    entries = sorted(manifest["files"], key=lambda item: int(item["order"]))
    content = content_sha256(entries)
    if manifest.get("content_sha256") not in (None, content):
        raise ModelLayerError(
            f"model manifest {model_dir / MANIFEST_NAME} does not match its own content_sha256"
        )
    if expected_sha256 and not content.startswith(expected_sha256):
        raise ModelLayerError(
            f"the model layer holds model {content[:16]} but the function was deployed with "
            f"{expected_sha256}: relink with mlayer deploy or mlayer rollback"
        )
    # In a layer of the old layout, other model layers' directories sit beside the files.
    present = {
        p.name for p in model_dir.iterdir() if p.name != MANIFEST_NAME and not is_model_subdir(p)
    }
    expected = {item["name"] for item in entries}
    extra = sorted(present - expected)
    if extra:
        raise ModelLayerError(
            f"model layer file {model_dir / extra[0]} is not in the manifest; nothing was loaded"
        )
    paths = []
    for item in entries:
        path = model_dir / item["name"]
        if not path.is_file():
            raise ModelLayerError(
                f"model layer file {path} is missing (listed in the manifest); nothing was loaded"
            )
        if path.stat().st_size != int(item["size"]) or _sha256(path) != item["sha256"]:
            raise ModelLayerError(
                f"model layer file {path} does not match its sha256 in the manifest "
                "(tampered or corrupted); nothing was loaded"
            )
        paths.append(path)
    return paths


def runtime_versions() -> dict[str, str]:
    """The versions this interpreter and the deps layer provide."""
    import numpy
    import sklearn

    return {
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "scikit-learn": str(sklearn.__version__),
        "numpy": str(numpy.__version__),
    }


def version_mismatches(trained_with: dict[str, str], runtime: dict[str, str]) -> list[str]:
    """``"scikit-learn 1.6.1 (model) vs 1.7.2 (deps)"`` for each gated difference."""
    found = []
    for library, have in runtime.items():
        saved = trained_with.get(library)
        if not saved:
            continue
        if library == "python":
            saved = ".".join(saved.split(".")[:2])
        if saved != have:
            name = "Python" if library == "python" else library
            found.append(f"{name} {saved} (model) vs {have} (deps)")
    return found


def _inconsistent_version_warning() -> type[Warning] | None:
    try:
        from sklearn.exceptions import InconsistentVersionWarning
    except ImportError:  # scikit-learn < 1.3 has no such warning
        return None
    warning: type[Warning] = InconsistentVersionWarning
    return warning


def _load_file(path: Path, trusted: list[str]) -> Any:
    """One model file, by its kind; skops gets exactly the types publish-model recorded."""
    if path.suffix == ".skops":
        try:
            import skops.io
        except ImportError:
            raise ModelLayerError(
                f"model file {path.name} is a skops file, and the deps layer has no skops: "
                "add skops to requirements.txt and rebuild the deps layer "
                "(mlayer build-deps --publish)"
            ) from None
        return skops.io.load(path, trusted=trusted)
    import joblib  # from the deps layer

    return joblib.load(path)


class Pipeline:
    """The loaded pre-processors and model, applied in manifest order."""

    def __init__(self, steps: list[Any], model_id: dict[str, str] | None = None) -> None:
        self.transforms, self.model = steps[:-1], steps[-1]
        self.model_id = model_id or {}

    @property
    def content_id(self) -> str:
        return self.model_id.get("model", "")

    @property
    def name(self) -> str:
        """How metrics name the model: its label, else its content id."""
        return self.model_id.get("label") or self.content_id

    @property
    def classes(self) -> list[Any] | None:
        """A classifier's labels in the model's order; None for a regressor."""
        classes = getattr(self.model, "classes_", None)
        if classes is None:
            return None
        return classes.tolist() if hasattr(classes, "tolist") else list(classes)

    @classmethod
    def load(
        cls, model_dir: Path, *, allow_mismatch: bool = False, expected_sha256: str | None = None
    ) -> Pipeline:
        # Verify first: nothing from the deps layer is imported for a layer that fails.
        manifest = read_manifest(model_dir)
        paths = verified_model_files(model_dir, manifest, expected_sha256)
        mismatches = version_mismatches(dict(manifest.get("trained_with", {})), runtime_versions())
        if mismatches and not allow_mismatch:
            raise ModelLayerError(
                f"the model was saved with other versions than the deps layer has: "
                f"{'; '.join(mismatches)}: {WAYS_OUT}"
            )
        if mismatches:
            print(f"mlayer: loading despite an allowed version mismatch: {'; '.join(mismatches)}")
        trusted = {item["name"]: list(item.get("trusted_types", [])) for item in manifest["files"]}
        warning = _inconsistent_version_warning()
        steps = []
        for path in paths:
            with warnings.catch_warnings():
                if warning is not None and not allow_mismatch:
                    warnings.simplefilter("error", warning)
                try:
                    steps.append(_load_file(path, trusted[path.name]))
                except Exception as exc:
                    if warning is not None and isinstance(exc, warning):
                        raise ModelLayerError(
                            f"model file {path.name}: {exc.estimator_name} was saved with "  # type: ignore[attr-defined]
                            f"scikit-learn {exc.original_sklearn_version} (model) but the deps "  # type: ignore[attr-defined]
                            f"layer has {exc.current_sklearn_version} (deps): {WAYS_OUT}"  # type: ignore[attr-defined]
                        ) from None
                    raise
        model_id = {
            "model": str(manifest.get("content_sha256", ""))[:16],
            "label": str(manifest.get("label") or ""),
        }
        return cls(steps, model_id)

    def predict(self, texts: list[Any]) -> list[Any]:
        features: Any = texts
        for step in self.transforms:
            features = step.transform(features)
        predictions = self.model.predict(features)
        # tolist() turns numpy scalars into JSON-serialisable Python values.
        return predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
