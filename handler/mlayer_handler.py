"""The inference function mlayer deploys to Lambda.

Runs inside Lambda with the deps layer (scikit-learn, numpy, joblib) and the
model layer mounted under /opt. It imports only the standard library, joblib,
scikit-learn and numpy (and boto3, which Lambda provides, for a DynamoDB or
Kinesis sink), never click or mlayer: it is shipped alone, with its helper
modules (mlayer_loader, mlayer_events, mlayer_batch, mlayer_sinks).

The model is verified and loaded once per container, at import (Lambda's init
phase); each invocation decodes its batch, predicts it in one call, writes the
predictions to the sink and returns them in the records' order. Records that
cannot be decoded or written are reported in ``batchItemFailures`` so Lambda
retries only them, instead of failing the batch.

Settings come from environment variables, set by ``mlayer deploy``:
``MLAYER_MODEL_DIR`` (default /opt/mlayer-model), ``MLAYER_TEXT_FIELD``
(default ``textblob``), ``MLAYER_TEXT_IS_JSON`` (``1`` when the field holds a
JSON-encoded string, as the seed article's data does), ``MLAYER_SINK``
(default ``log``), ``MLAYER_MODEL_SHA256`` (the deployed model's hash prefix)
and ``MLAYER_ALLOW_VERSION_MISMATCH`` (set when the deploy allowed one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlayer_batch import predict_records
from mlayer_events import decode_event
from mlayer_loader import ModelLayerError, Pipeline, verified_model_files
from mlayer_sinks import Sink, make_sink

__all__ = ["ModelLayerError", "handle", "lambda_handler", "verified_model_files"]


def handle(
    event: Any, pipeline: Pipeline, sink: Sink, text_field: str, text_is_json: bool
) -> dict[str, Any]:
    """Predict one batch; predictions and failures keep the records' order."""
    batch = decode_event(event, text_field, text_is_json)
    records, failed = predict_records(pipeline.predict, batch.records)
    failed = batch.failed + failed
    rows = [{"id": r.id, "prediction": v} for r, v in records]
    unwritten = set(sink.write(rows, batch.source)) if rows else set()
    if unwritten:  # rare: the sink refused some records, which Lambda must retry
        failed = failed + [(r.position, r.id) for r, _ in records if r.id in unwritten]
        rows = [row for row in rows if row["id"] not in unwritten]
    return {
        "predictions": rows,
        "batchItemFailures": [{"itemIdentifier": rid} for _, rid in sorted(failed)],
    }


# Copies of mlayer/contract.py's (the handler never imports mlayer); tests/test_contract.py
# ties them.
MODEL_DIR_ENV = "MLAYER_MODEL_DIR"
TEXT_FIELD_ENV = "MLAYER_TEXT_FIELD"
TEXT_IS_JSON_ENV = "MLAYER_TEXT_IS_JSON"
SINK_ENV = "MLAYER_SINK"
MODEL_SHA256_ENV = "MLAYER_MODEL_SHA256"
MISMATCH_ENV = "MLAYER_ALLOW_VERSION_MISMATCH"
DEFAULT_MODEL_PATH = "/opt/mlayer-model"
DEFAULT_TEXT_FIELD = "textblob"
DEFAULT_SINK = "log"

# Lambda's init phase: verify and load once per container, not once per invocation.
MODEL_DIR = Path(os.environ.get(MODEL_DIR_ENV, DEFAULT_MODEL_PATH))
TEXT_FIELD = os.environ.get(TEXT_FIELD_ENV, DEFAULT_TEXT_FIELD)
TEXT_IS_JSON = os.environ.get(TEXT_IS_JSON_ENV, "0") == "1"
PIPELINE = Pipeline.load(
    MODEL_DIR,
    allow_mismatch=bool(os.environ.get(MISMATCH_ENV)),
    expected_sha256=os.environ.get(MODEL_SHA256_ENV) or None,
)
SINK = make_sink(os.environ.get(SINK_ENV, DEFAULT_SINK), PIPELINE.model_id)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, PIPELINE, SINK, TEXT_FIELD, TEXT_IS_JSON)
