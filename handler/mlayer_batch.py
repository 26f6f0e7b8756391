"""One batch through the model, so that one record cannot fail the others. Stdlib only.

With a stream trigger, a failed invocation is retried and holds back its shard
until it succeeds or its records expire; ``batchItemFailures`` lets the handler
hand back only the records that failed. So a record the model cannot predict is
reported alone; only a model that fails on every record fails the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlayer_events import Record


def predict_records(
    predict: Callable[[list[str]], list[Any]], records: list[Record]
) -> tuple[list[tuple[Record, Any]], list[tuple[int, str]]]:
    """(record, prediction) pairs in order, and the (position, id) of the records
    the model could not predict.

    One predict call per batch: the vectorisers and the model work on arrays.
    Only when that call fails is each record predicted alone; if every record
    fails alone too, the model itself is broken and its error fails the batch.
    """
    if not records:
        return [], []
    try:
        values = predict([r.text for r in records])
        return list(zip(records, values, strict=True)), []
    except Exception as batch_error:
        predicted: list[tuple[Record, Any]] = []
        failed: list[tuple[int, str]] = []
        for record in records:
            try:
                (value,) = predict([record.text])
            except Exception:  # this record alone goes back to Lambda
                failed.append((record.position, record.id))
                continue
            predicted.append((record, value))
        if not predicted:
            raise batch_error from None
        print(
            f"mlayer: {len(failed)} of {len(records)} records could not be predicted "
            f"({type(batch_error).__name__}: {batch_error}); reported in batchItemFailures"
        )
        return predicted, failed
