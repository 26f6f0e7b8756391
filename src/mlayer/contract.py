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

# The model layer: its files sit under /opt/MODEL_DIR, beside the manifest.
MODEL_DIR = "mlayer-model"  # -> /opt/mlayer-model in Lambda
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
# The deployed model's content hash (prefix), which the handler checks at init.
MODEL_SHA256_ENV = "MLAYER_MODEL_SHA256"
# Set when the deploy allowed a version mismatch (gate.py); the handler then
# logs the mismatch instead of refusing to load.
MISMATCH_ENV = "MLAYER_ALLOW_VERSION_MISMATCH"
# Set when the linked model is older than the newest, by rollback or
# --model-version: a later plain deploy keeps that model instead of bringing
# back the one rolled away from. The handler does not read it.
PINNED_ENV = "MLAYER_PINNED_MODEL_VERSION"
# The variables that follow the model: a relink (rollback) moves only these.
MODEL_VARIABLES = (MODEL_SHA256_ENV, MISMATCH_ENV, PINNED_ENV)

# The handler's defaults when a variable is not set.
DEFAULT_TEXT_FIELD = "textblob"
DEFAULT_SINK = "log"

# The sink table's partition key, a string: the record's id.
SINK_KEY = "id"

# invoke --local: the child interpreter's deadline (src/mlayer/_lambda_runtime.py).
LOCAL_TIMEOUT_ENV = "MLAYER_TIMEOUT_S"


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
