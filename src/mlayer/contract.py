"""What mlayer and the Lambda handler share: one owner for each name.

The handler (``handler/*.py``) never imports mlayer: it is shipped alone and
runs with the standard library and the deps layer only. So it keeps its own
copies of these values, and ``tests/test_contract.py`` checks that every copy
equals the value here. Change a value here and in the handler together.
"""

from __future__ import annotations

# The handler's entry point, as Lambda's ``Handler`` field names it.
HANDLER_MODULE = "mlayer_handler"
HANDLER = f"{HANDLER_MODULE}.lambda_handler"
HANDLER_FILE = f"{HANDLER_MODULE}.py"

# The model layer: its files sit beside the manifest in /opt/MODEL_DIR/<content id>/,
# so that two model layers (live and shadow) can be linked at once. Layers published
# before that layout hold their files in /opt/MODEL_DIR itself; the handler still loads them.
MODEL_DIR = "mlayer-model"  # -> /opt/mlayer-model in Lambda
# A model's content id: the first characters of its manifest's content_sha256. It
# names the model's directory, the sha256= of its layer description and MODEL_SHA256_ENV.
CONTENT_ID_CHARS = 16
DEFAULT_MODEL_PATH = f"/opt/{MODEL_DIR}"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "mlayer-model/1"
MODEL_SUFFIXES = (".joblib", ".skops")

# The function's environment. mlayer owns every variable whose name starts
# with OWNED_ENV_PREFIX: it sets them, and may change or remove them; every
# other variable on the function belongs to the user and is kept.
OWNED_ENV_PREFIX = "MLAYER_"
MODEL_DIR_ENV = "MLAYER_MODEL_DIR"  # where the model layer is (tests, invoke --local)
TEXT_FIELD_ENV = "MLAYER_TEXT_FIELD"  # the record field holding the text
TEXT_IS_JSON_ENV = "MLAYER_TEXT_IS_JSON"  # "1" when that field holds a JSON-encoded string
SINK_ENV = "MLAYER_SINK"  # log | dynamodb:TABLE | kinesis:STREAM (policy.SinkSpec.env)
# The deployed model's content id, which the handler checks at init; it also names
# the live model's directory when several model layers are linked.
MODEL_SHA256_ENV = "MLAYER_MODEL_SHA256"
# The shadow model's content id (unset: no shadow). The handler predicts each batch
# with it too, logs how it agrees with the live model, and never returns or sinks it.
SHADOW_MODEL_ENV = "MLAYER_SHADOW_MODEL"
# Set when the deploy allowed a version mismatch (gate.py); the handler then
# logs the mismatch instead of refusing to load.
MISMATCH_ENV = "MLAYER_ALLOW_VERSION_MISMATCH"
# Set when the linked model is older than the newest, by rollback or
# --model-version: a later plain deploy keeps that model instead of bringing
# back the one rolled away from. The handler does not read it.
PINNED_ENV = "MLAYER_PINNED_MODEL_VERSION"
# The variables that follow the model: a relink (rollback) moves only these (and
# drops the shadow: a rollback serves one model).
MODEL_VARIABLES = (MODEL_SHA256_ENV, MISMATCH_ENV, PINNED_ENV, SHADOW_MODEL_ENV)

# The handler's defaults when a variable is not set.
DEFAULT_TEXT_FIELD = "textblob"
DEFAULT_SINK = "log"

# The sink table's partition key, a string: the record's id.
SINK_KEY = "id"

# The handler's log lines are JSON objects whose LOG_KIND_KEY says what they are.
# The shadow line, once per batch: {"mlayer": "shadow", "live": <content id>,
# "shadow": <content id>, "records": n, "agreements": k, "disagreements": [{"id",
# "live", "shadow"}, at most SHADOW_DISAGREEMENTS_LOGGED]}; a shadow that failed to
# load or predict logs {"mlayer": "shadow", "live", "shadow", "records", "error"}.
LOG_KIND_KEY = "mlayer"
SHADOW_LOG_KIND = "shadow"
SHADOW_DISAGREEMENTS_LOGGED = 5

# CloudWatch metrics, written by the handler as Embedded Metric Format lines on
# stdout (handler/mlayer_metrics.py): one per batch and one at init, each with the
# dimensions Function (the function's name) and Model (its label, else content id).
METRICS_NAMESPACE = "mlayer"
METRIC_DIMENSIONS = ("Function", "Model")
METRIC_RECORDS = "Records"  # records in the batch
METRIC_FAILURES = "Failures"  # records reported in batchItemFailures
METRIC_BATCH_MS = "BatchMs"  # the invocation's time in the handler
METRIC_MODEL_LOAD_MS = "ModelLoadMs"  # verify + load at init (the live model)
METRIC_PREDICTIONS_PREFIX = "Predictions."  # + class: records predicted as that class
METRIC_PREDICTIONS_OTHER = "PredictionsOther"  # classes past MAX_CLASS_METRICS
MAX_CLASS_METRICS = 20  # one custom metric (billed monthly) per class and dimension set
METRIC_SHADOW_AGREEMENTS = "ShadowAgreements"
METRIC_SHADOW_DISAGREEMENTS = "ShadowDisagreements"
METRIC_SHADOW_ERRORS = "ShadowErrors"  # batches the shadow failed to load for or predict

# invoke --local: the child interpreter's deadline (src/mlayer/_lambda_runtime.py).
LOCAL_TIMEOUT_ENV = "MLAYER_TIMEOUT_S"

# build-deps --defer-imports: the modules the handler defers until first use, a JSON
# file at the root of the deps layer's python/ (on sys.path), read by DEFER_MODULE
# (handler/mlayer_defer.py): {"format": DEFERRED_FORMAT, "modules": [{"name",
# "saved_ms"}], "measured_ms": {"without", "with"}}. No file: nothing is deferred.
DEFER_MODULE = "mlayer_defer"
DEFERRED_FILE = "mlayer-deferred.json"
DEFERRED_FORMAT = "mlayer-deferred/1"


def content_id(content_sha256: str) -> str:
    """A model's content id: its directory under /opt/mlayer-model, its ``sha256=``."""
    return content_sha256[:CONTENT_ID_CHARS]


def handler_environment(
    *,
    text_field: str,
    text_is_json: bool,
    sink: str,
    model_sha256: str | None = None,
    mismatch: str | None = None,
    pinned: int | None = None,
) -> dict[str, str]:
    """The variables mlayer sets on the function: how to read records, where
    predictions go (``sink`` in ``SinkSpec.env`` form), which model the handler
    must find, any version mismatch the deploy allowed, and the pinned model version."""
    environment = {
        TEXT_FIELD_ENV: text_field,
        TEXT_IS_JSON_ENV: "1" if text_is_json else "0",
        SINK_ENV: sink,
    }
    return {**environment, **model_environment(model_sha256, mismatch, pinned)}


def model_environment(
    model_sha256: str | None, mismatch: str | None, pinned: int | None
) -> dict[str, str]:
    """The ``MODEL_VARIABLES`` for one linked model (unset ones left out)."""
    environment = {}
    if model_sha256:
        environment[MODEL_SHA256_ENV] = model_sha256
    if mismatch:
        environment[MISMATCH_ENV] = mismatch
    if pinned is not None:
        environment[PINNED_ENV] = str(pinned)
    return environment
