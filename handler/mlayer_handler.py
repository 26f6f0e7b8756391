"""The inference function mlayer deploys to Lambda.

Runs inside Lambda with the deps layer (scikit-learn, numpy, joblib) and the
model layer mounted under /opt. It imports only the standard library and
joblib, never click or mlayer: it is shipped alone.

The model is loaded once per container, at import (Lambda's init phase), and
each invocation predicts its whole batch in one call. Records that cannot be
decoded are reported in ``batchItemFailures`` so that Lambda retries only
them, instead of failing the batch.

Settings come from environment variables, set by ``mlayer deploy``:
``MLAYER_MODEL_DIR`` (default /opt/mlayer-model), ``MLAYER_TEXT_FIELD``
(default ``textblob``) and ``MLAYER_TEXT_IS_JSON`` (``1`` when the field holds a
JSON-encoded string, as the seed article's data does).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"  # the format is documented in mlayer/model.py


class ModelLayerError(RuntimeError):
    """The model layer does not match its manifest; nothing was loaded."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_model_files(model_dir: Path) -> list[Path]:
    """The model files in pipeline order, each checked against the manifest.

    A pickle runs code when loaded, so a file that is not byte-for-byte the
    one that was published is refused before ``joblib.load`` sees it.
    """
    manifest_path = model_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ModelLayerError(f"no model manifest at {manifest_path}: is the model layer linked?")
    manifest = json.loads(manifest_path.read_text())
    entries = sorted(manifest["files"], key=lambda item: item["order"])
    present = {p.name for p in model_dir.iterdir() if p.name != MANIFEST_NAME}
    expected = {item["name"] for item in entries}
    for name in sorted(present - expected):
        raise ModelLayerError(f"model layer file {name} is not in the manifest")
    paths = []
    for item in entries:
        path = model_dir / item["name"]
        if not path.is_file():
            raise ModelLayerError(f"model layer file {item['name']} is missing")
        if _sha256(path) != item["sha256"]:
            raise ModelLayerError(f"model layer file {item['name']} does not match its sha256")
        paths.append(path)
    return paths


class Pipeline:
    """The loaded pre-processors and model, applied in manifest order."""

    def __init__(self, steps: list[Any]) -> None:
        self.transforms, self.model = steps[:-1], steps[-1]

    @classmethod
    def load(cls, model_dir: Path) -> Pipeline:
        import joblib  # from the deps layer

        return cls([joblib.load(path) for path in verified_model_files(model_dir)])

    def predict(self, texts: list[Any]) -> list[Any]:
        features: Any = texts
        for step in self.transforms:
            features = step.transform(features)
        predictions = self.model.predict(features)
        # tolist() turns numpy scalars into JSON-serialisable Python values.
        return predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)


def decode_kinesis(
    records: list[dict[str, Any]], text_field: str, text_is_json: bool
) -> tuple[list[tuple[str, Any]], list[str]]:
    """(id, text) for each record that decodes, and the ids of those that do not."""
    decoded, failed = [], []
    for record in records:
        record_id = record.get("kinesis", {}).get("sequenceNumber") or record.get("eventID", "")
        try:
            payload = json.loads(base64.b64decode(record["kinesis"]["data"], validate=True))
            text = payload[text_field]
            if text_is_json:
                text = json.loads(text)
        except (KeyError, TypeError, ValueError, binascii.Error):
            failed.append(record_id)
            continue
        decoded.append((record_id, text))
    return decoded, failed


def handle(
    event: dict[str, Any], pipeline: Pipeline, text_field: str, text_is_json: bool
) -> dict[str, Any]:
    """Predict a Kinesis batch; the result keeps the records' order."""
    decoded, failed = decode_kinesis(event.get("Records", []), text_field, text_is_json)
    predictions = pipeline.predict([text for _, text in decoded]) if decoded else []
    return {
        "predictions": [
            {"id": record_id, "prediction": value}
            for (record_id, _), value in zip(decoded, predictions, strict=True)
        ],
        "batchItemFailures": [{"itemIdentifier": record_id} for record_id in failed],
    }


# Lambda's init phase: load once per container, not once per invocation.
MODEL_DIR = Path(os.environ.get("MLAYER_MODEL_DIR", "/opt/mlayer-model"))
TEXT_FIELD = os.environ.get("MLAYER_TEXT_FIELD", "textblob")
TEXT_IS_JSON = os.environ.get("MLAYER_TEXT_IS_JSON", "0") == "1"
PIPELINE = Pipeline.load(MODEL_DIR)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, PIPELINE, TEXT_FIELD, TEXT_IS_JSON)
