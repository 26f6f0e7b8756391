"""The shadow model: it predicts every batch beside the live model and is only logged.

``MLAYER_SHADOW_MODEL`` names the shadow by content id; its model layer sits
beside the live one (``/opt/mlayer-model/<content id>/``) and is verified and
loaded at init like the live model. Each batch, after the live predictions are
written, the shadow predicts the records the live model predicted, and one JSON
line goes to the log:

    {"mlayer": "shadow", "live": <content id>, "shadow": <content id>,
     "records": <records compared>, "agreements": <same prediction>,
     "disagreements": [{"id", "live", "shadow"}, ... at most 5]}

The shadow never changes what the handler returns or writes, and never fails a
batch: a shadow that failed to load (a tampered layer, a version mismatch, a
missing layer) or fails to predict gives ``{"mlayer": "shadow", "live",
"shadow", "records", "error"}`` instead, every batch, so that it is counted
(``ShadowErrors``) wherever the logs are read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlayer_events import Record
from mlayer_loader import Pipeline, find_model_dir

# Copies of mlayer/contract.py's (the handler never imports mlayer); tests/test_contract.py
# ties them.
LOG_KIND_KEY = "mlayer"
SHADOW_LOG_KIND = "shadow"
SHADOW_DISAGREEMENTS_LOGGED = 5


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Shadow:
    """The shadow model, or why it could not be loaded."""

    def __init__(
        self, live_id: str, shadow_id: str, pipeline: Pipeline | None, error: str | None = None
    ) -> None:
        self.live_id, self.shadow_id = live_id, shadow_id
        self.pipeline, self.error = pipeline, error

    @classmethod
    def load(
        cls, base: Path, live_id: str, shadow_id: str, *, allow_mismatch: bool = False
    ) -> Shadow:
        """Verify and load the shadow model; a failure is kept for ``compare`` to log."""
        try:
            pipeline = Pipeline.load(
                find_model_dir(base, shadow_id),
                allow_mismatch=allow_mismatch,
                expected_sha256=shadow_id,
            )
        except Exception as exc:  # the shadow must never stop the live model
            # Logged with each batch, not here: one error line per batch keeps the
            # log's counts (mlayer logs: failed batches) exact.
            return cls(live_id, shadow_id, None, f"not loaded: {_describe(exc)}")
        return cls(live_id, shadow_id, pipeline)

    def head(self, records: int) -> dict[str, Any]:
        return {
            LOG_KIND_KEY: SHADOW_LOG_KIND,
            "live": self.live_id,
            "shadow": self.shadow_id,
            "records": records,
        }

    def compare(self, predicted: list[tuple[Record, Any]]) -> dict[str, Any]:
        """Predict the live model's records with the shadow; log and return the line."""
        line = self.head(len(predicted))
        try:
            if self.pipeline is None:
                raise RuntimeError(self.error)
            values = self.pipeline.predict([record.text for record, _ in predicted])
            if len(values) != len(predicted):
                raise ValueError(f"{len(values)} predictions for {len(predicted)} records")
            agreements, disagreements = 0, list[dict[str, Any]]()
            for (record, live), shadow in zip(predicted, values, strict=True):
                if live == shadow:
                    agreements += 1
                elif len(disagreements) < SHADOW_DISAGREEMENTS_LOGGED:
                    disagreements.append({"id": record.id, "live": live, "shadow": shadow})
            line.update(agreements=agreements, disagreements=disagreements)
        except Exception as exc:  # logged and counted; the live answer stands
            line["error"] = self.error if self.pipeline is None else _describe(exc)
        self.log(line)
        return line

    @staticmethod
    def log(line: dict[str, Any]) -> None:
        print(json.dumps(line, separators=(",", ":"), default=str), flush=True)
