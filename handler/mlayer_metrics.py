"""CloudWatch metrics as Embedded Metric Format (EMF) lines on stdout. Stdlib only.

Lambda sends the function's stdout to CloudWatch Logs, which turns a JSON line
with an ``_aws`` member into metrics: no API call in the hot path, no dependency,
nothing to install. One line per batch (records, failures, predictions per class,
the batch's time, the shadow's agreements) and one at init (the model's load time),
each with the dimensions Function and Model (its label, else its content id).

Predictions per class are bounded to the first ``MAX_CLASS_METRICS`` of the
model's classes (``classes_``, in the model's order), the rest summed into
``PredictionsOther``: every metric name is a custom metric CloudWatch bills by
the month, and one EMF directive holds at most 100 metrics. A regressor has no
classes, so it gets no per-class metric.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

# Copies of mlayer/contract.py's (the handler never imports mlayer); tests/test_contract.py
# ties them.
METRICS_NAMESPACE = "mlayer"
METRIC_DIMENSIONS = ("Function", "Model")
METRIC_RECORDS = "Records"
METRIC_FAILURES = "Failures"
METRIC_BATCH_MS = "BatchMs"
METRIC_MODEL_LOAD_MS = "ModelLoadMs"
METRIC_PREDICTIONS_PREFIX = "Predictions."
METRIC_PREDICTIONS_OTHER = "PredictionsOther"
MAX_CLASS_METRICS = 20
METRIC_SHADOW_AGREEMENTS = "ShadowAgreements"
METRIC_SHADOW_DISAGREEMENTS = "ShadowDisagreements"
METRIC_SHADOW_ERRORS = "ShadowErrors"

# CloudWatch's longest metric name is 255 characters.
MAX_METRIC_NAME = 255


def class_metric_name(label: Any) -> str:
    return (METRIC_PREDICTIONS_PREFIX + str(label))[:MAX_METRIC_NAME]


class Metrics:
    """Writes the EMF lines of one function and model."""

    def __init__(
        self,
        function: str,
        model: str,
        classes: list[Any] | None,
        *,
        clock: Callable[[], float] = time.time,
        write: Callable[[str], None] = print,
    ) -> None:
        self.dimensions = dict(zip(METRIC_DIMENSIONS, (function, model), strict=True))
        shown = (classes or [])[:MAX_CLASS_METRICS]
        # Predictions are compared as text: JSON (and so the log) knows no numpy type.
        self.class_names = {str(label): class_metric_name(label) for label in shown}
        self.more_classes = classes is not None and len(classes) > MAX_CLASS_METRICS
        self.clock = clock
        self.write = write

    def document(self, values: dict[str, tuple[float, str]]) -> dict[str, Any]:
        """The EMF document for ``values`` ({name: (value, unit)})."""
        return {
            "_aws": {
                "Timestamp": int(self.clock() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": METRICS_NAMESPACE,
                        "Dimensions": [list(METRIC_DIMENSIONS)],
                        "Metrics": [
                            {"Name": name, "Unit": unit} for name, (_, unit) in values.items()
                        ],
                    }
                ],
            },
            **self.dimensions,
            **{name: value for name, (value, _) in values.items()},
        }

    def emit(self, values: dict[str, tuple[float, str]]) -> None:
        self.write(json.dumps(self.document(values), separators=(",", ":")))

    def init(self, load_ms: float) -> None:
        self.emit({METRIC_MODEL_LOAD_MS: (round(load_ms, 3), "Milliseconds")})

    def batch_values(
        self,
        *,
        records: int,
        failures: int,
        batch_ms: float,
        predictions: list[Any],
        shadow: dict[str, Any] | None = None,
    ) -> dict[str, tuple[float, str]]:
        """One batch's metrics; ``shadow`` is the batch's shadow line, if any."""
        values: dict[str, tuple[float, str]] = {
            METRIC_RECORDS: (records, "Count"),
            METRIC_FAILURES: (failures, "Count"),
            METRIC_BATCH_MS: (round(batch_ms, 3), "Milliseconds"),
        }
        if self.class_names:
            counts = Counter(str(value) for value in predictions)
            for label, name in self.class_names.items():
                values[name] = (counts.pop(label, 0), "Count")
            if self.more_classes:
                values[METRIC_PREDICTIONS_OTHER] = (sum(counts.values()), "Count")
        if shadow is not None:
            failed = "error" in shadow
            agreements = 0 if failed else int(shadow["agreements"])
            disagreements = 0 if failed else int(shadow["records"]) - agreements
            values[METRIC_SHADOW_AGREEMENTS] = (agreements, "Count")
            values[METRIC_SHADOW_DISAGREEMENTS] = (disagreements, "Count")
            values[METRIC_SHADOW_ERRORS] = (int(failed), "Count")
        return values

    def batch(self, **batch: Any) -> None:
        self.emit(self.batch_values(**batch))
