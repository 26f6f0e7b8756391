"""``mlayer compare``: how two models' answers on the same records differ (pure).

In: what the handler returned for each event under model A and under model B
(``{"predictions": [{"id", "prediction"}], "batchItemFailures": [...]}``, the
contract's shape), and how long each run took. Out: the agreement rate, the
disagreements counted by (A's class, B's class), every record that differs,
and the time per record. No I/O: the runs happen in ``mlayer.ops.compare``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlayer.errors import MlayerError

# A record across the events of one comparison: (event index, record id, how many
# records of that event had this id before it). The index keeps two events'
# records apart when their ids repeat (direct invocations number their records
# from "0"); the count, two records of one event with the same id.
RecordKey = tuple[int, str, int]


@dataclass(frozen=True)
class Answers:
    """One model's answers: a prediction per record, and the records it failed."""

    predictions: dict[RecordKey, Any]
    failed: frozenset[RecordKey]


@dataclass(frozen=True)
class Disagreement:
    id: str
    a: Any
    b: Any
    text: str | None = None  # when the command built the records itself (--texts, the stream)


@dataclass(frozen=True)
class Timing:
    """How long one model took: its init (import + load), then per record.

    ``duration_ms`` is a warm pass over the events (a container that has served
    a batch already, as most invocations are); ``first_pass_ms`` the pass right
    after the init, which pays for first-call work the warm one does not.
    """

    init_ms: float
    duration_ms: float  # the warm pass over all events, init not included
    records: int
    first_pass_ms: float = 0.0

    @property
    def per_record_ms(self) -> float | None:
        return self.duration_ms / self.records if self.records else None

    def to_dict(self) -> dict[str, Any]:
        per_record = self.per_record_ms
        return {
            "init_ms": round(self.init_ms, 2),
            "duration_ms": round(self.duration_ms, 2),
            "first_pass_ms": round(self.first_pass_ms, 2),
            "records": self.records,
            "per_record_ms": None if per_record is None else round(per_record, 4),
        }


@dataclass(frozen=True)
class Comparison:
    compared: int  # records both models predicted
    agreements: int
    disagreements: list[Disagreement]  # event by event, in A's order of the records
    failed_only_a: list[str] = field(default_factory=list)
    failed_only_b: list[str] = field(default_factory=list)
    failed_both: list[str] = field(default_factory=list)

    @property
    def agreement_rate(self) -> float | None:
        return self.agreements / self.compared if self.compared else None

    @property
    def confusion(self) -> list[tuple[Any, Any, int]]:
        """(A's class, B's class, count) for each pair that differs, most frequent first."""
        counts = Counter((_hashable(d.a), _hashable(d.b)) for d in self.disagreements)
        order = {pair: index for index, pair in enumerate(counts)}  # first seen
        pairs = sorted(counts, key=lambda pair: (-counts[pair], order[pair]))
        values = {(_hashable(d.a), _hashable(d.b)): (d.a, d.b) for d in self.disagreements}
        return [(*values[pair], counts[pair]) for pair in pairs]


def answers(results: Sequence[Any], model: str) -> Answers:
    """One model's answers from the handler's return value for each event."""
    predictions: dict[RecordKey, Any] = {}
    failed: set[RecordKey] = set()
    for index, result in enumerate(results):
        rows = result.get("predictions") if isinstance(result, dict) else None
        if not isinstance(rows, list):
            raise MlayerError(
                f"the handler returned {_short(result)} for {model}, not the contract's "
                '{"predictions": [...], "batchItemFailures": [...]}: is --handler-dir mlayer\'s?'
            )
        seen: Counter[str] = Counter()
        for row in rows:
            predictions[_key(index, str(row["id"]), seen)] = row["prediction"]
        seen.clear()
        for failure in result.get("batchItemFailures") or []:
            failed.add(_key(index, str(failure["itemIdentifier"]), seen))
    return Answers(predictions, frozenset(failed))


def compare(a: Answers, b: Answers, texts: Mapping[RecordKey, str] | None = None) -> Comparison:
    """Record by record, event by event: do A and B predict the same class?

    A record only one model failed on is listed apart (it is neither an
    agreement nor a disagreement); so is one both failed on (undecodable).
    """
    texts = texts or {}
    keys = list(a.predictions) + [k for k in b.predictions if k not in a.predictions]
    keys += sorted((a.failed | b.failed) - set(keys))
    keys.sort(key=lambda key: key[0])  # stable: the records' order within each event stays
    agreements, disagreements = 0, []
    only_a, only_b, both = [], [], []
    for key in keys:
        in_a, in_b = key in a.predictions, key in b.predictions
        if in_a and in_b:
            if _same(a.predictions[key], b.predictions[key]):
                agreements += 1
            else:
                disagreements.append(
                    Disagreement(key[1], a.predictions[key], b.predictions[key], texts.get(key))
                )
        elif in_b:
            only_a.append(key[1])
        elif in_a:
            only_b.append(key[1])
        else:
            both.append(key[1])
    compared = agreements + len(disagreements)
    return Comparison(compared, agreements, disagreements, only_a, only_b, both)


def _key(index: int, record_id: str, seen: Counter[str]) -> RecordKey:
    key = (index, record_id, seen[record_id])
    seen[record_id] += 1
    return key


def timing(
    init_ms: float,
    durations_ms: Sequence[float],
    records: int,
    first_pass_ms: Sequence[float] = (),
) -> Timing:
    return Timing(init_ms, sum(durations_ms), records, sum(first_pass_ms))


def _same(a: Any, b: Any) -> bool:
    return bool(_hashable(a) == _hashable(b))


def _hashable(value: Any) -> Any:
    """A JSON value as something a Counter can count (a list prediction, say)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
