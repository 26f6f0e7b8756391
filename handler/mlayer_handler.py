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
(default ``log``), ``MLAYER_MODEL_SHA256`` (the deployed model's content id: it
also says which model under /opt/mlayer-model is live when several are linked),
``MLAYER_SHADOW_MODEL`` (a shadow model's content id: see mlayer_shadow) and
``MLAYER_ALLOW_VERSION_MISMATCH`` (set when the deploy allowed one).

In Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set, as invoke --local sets it too) it
writes CloudWatch metrics as EMF lines on stdout: see mlayer_metrics.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

# First: on import it defers the modules the deps layer lists (build-deps --defer-imports)
# before the model's loading imports scikit-learn; no list, nothing deferred.
import mlayer_defer  # noqa: F401
import mlayer_snapstart
from mlayer_batch import predict_records
from mlayer_events import decode_event
from mlayer_loader import ModelLayerError, Pipeline, find_model_dir, verified_model_files
from mlayer_metrics import Metrics
from mlayer_shadow import Shadow
from mlayer_sinks import Sink, make_sink

__all__ = ["ModelLayerError", "handle", "lambda_handler", "verified_model_files"]


def handle(
    event: Any,
    pipeline: Pipeline,
    sink: Sink,
    text_field: str,
    text_is_json: bool,
    *,
    shadow: Shadow | None = None,
    metrics: Metrics | None = None,
) -> dict[str, Any]:
    """Predict one batch; predictions and failures keep the records' order.

    The shadow, if any, predicts after the live predictions are written, and only logs.
    """
    started = time.perf_counter()
    batch = decode_event(event, text_field, text_is_json)
    records, failed = predict_records(pipeline.predict, batch.records)
    failed = batch.failed + failed
    rows = [{"id": r.id, "prediction": v} for r, v in records]
    unwritten = set(sink.write(rows, batch.source)) if rows else set()
    if unwritten:  # rare: the sink refused some records, which Lambda must retry
        failed = failed + [(r.position, r.id) for r, _ in records if r.id in unwritten]
        rows = [row for row in rows if row["id"] not in unwritten]
    result = {
        "predictions": rows,
        "batchItemFailures": [{"itemIdentifier": rid} for _, rid in sorted(failed)],
    }
    compared = shadow.compare(records) if shadow is not None else None
    if metrics is not None:
        metrics.batch(
            records=len(batch.records) + len(batch.failed),
            failures=len(failed),
            batch_ms=(time.perf_counter() - started) * 1000,
            predictions=[value for _, value in records],
            shadow=compared,
        )
    return result


# Copies of mlayer/contract.py's (the handler never imports mlayer); tests/test_contract.py
# ties them.
MODEL_DIR_ENV = "MLAYER_MODEL_DIR"
TEXT_FIELD_ENV = "MLAYER_TEXT_FIELD"
TEXT_IS_JSON_ENV = "MLAYER_TEXT_IS_JSON"
SINK_ENV = "MLAYER_SINK"
MODEL_SHA256_ENV = "MLAYER_MODEL_SHA256"
MISMATCH_ENV = "MLAYER_ALLOW_VERSION_MISMATCH"
SHADOW_MODEL_ENV = "MLAYER_SHADOW_MODEL"
DEFAULT_MODEL_PATH = "/opt/mlayer-model"
DEFAULT_TEXT_FIELD = "textblob"
DEFAULT_SINK = "log"

# Lambda's init phase: verify and load once per container, not once per invocation.
MODEL_DIR = Path(os.environ.get(MODEL_DIR_ENV, DEFAULT_MODEL_PATH))
TEXT_FIELD = os.environ.get(TEXT_FIELD_ENV, DEFAULT_TEXT_FIELD)
TEXT_IS_JSON = os.environ.get(TEXT_IS_JSON_ENV, "0") == "1"
ALLOW_MISMATCH = bool(os.environ.get(MISMATCH_ENV))
LIVE_MODEL = os.environ.get(MODEL_SHA256_ENV) or None
_loading = time.perf_counter()
PIPELINE = Pipeline.load(
    find_model_dir(MODEL_DIR, LIVE_MODEL),
    allow_mismatch=ALLOW_MISMATCH,
    expected_sha256=LIVE_MODEL,
)
LOAD_MS = (time.perf_counter() - _loading) * 1000
SHADOW_MODEL = os.environ.get(SHADOW_MODEL_ENV) or None
SHADOW = (
    Shadow.load(MODEL_DIR, PIPELINE.content_id, SHADOW_MODEL, allow_mismatch=ALLOW_MISMATCH)
    if SHADOW_MODEL
    else None
)
SINK = make_sink(os.environ.get(SINK_ENV, DEFAULT_SINK), PIPELINE.model_id)
# Lambda names the function; without a name (a test, a benchmark) there is no metric to write.
FUNCTION_NAME = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
METRICS = Metrics(FUNCTION_NAME, PIPELINE.name, PIPELINE.classes) if FUNCTION_NAME else None
if METRICS is not None:
    METRICS.init(LOAD_MS)


def _after_restore() -> None:
    """Under SnapStart, in each environment restored from the snapshot: its own
    sink client and random seeds, not the snapshot's (mlayer_snapstart says why)."""
    global SINK
    mlayer_snapstart.reseed()
    SINK = make_sink(os.environ.get(SINK_ENV, DEFAULT_SINK), PIPELINE.model_id)


mlayer_snapstart.after_restore(_after_restore)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, PIPELINE, SINK, TEXT_FIELD, TEXT_IS_JSON, shadow=SHADOW, metrics=METRICS)
