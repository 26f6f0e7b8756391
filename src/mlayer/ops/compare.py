"""compare: two models through the handler, on the same records, on this machine.

Each model is a published version of the model layer, or a local folder of
model files (zipped as publish-model zips them: scanned, never unpickled). Each
runs as ``invoke --local`` runs the function (``ops.invoke``: the layer zips
under an /opt, a fresh interpreter of the runtime's Python), one interpreter
per model, so that a user's model is only ever loaded in a child process, and
each model's time is its own. The records come from an event file, a texts
file, or the newest K records of a Kinesis stream (read-only). The counting is
``mlayer.comparison``'s.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer import comparison, local
from mlayer.aws import Aws
from mlayer.aws.streams import StreamRecord
from mlayer.comparison import Comparison, RecordKey, Timing
from mlayer.contract import MODEL_SUFFIXES
from mlayer.errors import MlayerError, UsageError
from mlayer.ops import invoke as invoke_ops
from mlayer.ops.model import package_model
from mlayer.settings import Settings
from mlayer.validate import parse_arn, region_mismatch

# The most records --records reads from a stream: ten of the largest batches a
# trigger delivers (10,000 records each), all held in memory here.
MAX_STREAM_RECORDS = 100_000


@dataclass(frozen=True)
class ModelRef:
    """A or B as given: a model layer version number, or a folder of model files."""

    given: str
    version: int | None = None
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class CompareInput:
    """The events both models get, and the text of each record where it is known."""

    events: list[dict[str, Any]]
    texts: dict[RecordKey, str]
    origin: str  # said to the user


@dataclass(frozen=True)
class ModelResult:
    name: str  # "fn-model:2", or the folder
    origin: str  # where the layer's bytes came from
    timing: Timing


@dataclass(frozen=True)
class CompareResult:
    a: ModelResult
    b: ModelResult
    origin: str
    records: int  # records sent to each model
    comparison: Comparison


def parse_model(given: str) -> ModelRef:
    """A number is a version of the model layer; anything else names a folder whose
    model files, sorted by name, are the pipeline (pre-processors first)."""
    if given.isdigit():
        version = int(given)
        if version < 1:
            raise UsageError(f"model {given}: layer versions start at 1")
        return ModelRef(given, version=version)
    folder = Path(given)
    if not folder.is_dir():
        raise UsageError(
            f"model {given!r} is neither a model layer version number nor a folder: give "
            "a version (mlayer versions lists them) or a folder of .joblib/.skops files"
        )
    files = tuple(
        sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(MODEL_SUFFIXES))
    )
    if not files:
        raise UsageError(
            f"folder {given} holds no .joblib or .skops file: put the model's files there, "
            "named so that their sorted order is the pipeline's (1_vectorizer.joblib, ...)"
        )
    return ModelRef(given, files=files)


def read_local_input(
    settings: Settings, *, event: str | None, texts: str | None, records: int | None
) -> CompareInput | None:
    """The records of --event or --texts, read and checked; None for --records (the
    stream is read later, after every local check)."""
    given = [name for name, value in (("--event", event), ("--texts", texts)) if value]
    if records is not None:
        given.append("--records")
    if len(given) != 1:
        what = f"not {' and '.join(given)}" if given else "none was given"
        raise UsageError(
            "give one of --event EVENT.json, --texts FILE (one text per line) or "
            f"--records K (the stream's newest K records): {what}"
        )
    if event:
        loaded = local.read_event(Path(event))
        if not _records_of(loaded):
            raise UsageError(f"event file {event} has no records to compare on")
        return CompareInput([loaded], {}, f"event file {event}")
    if texts:
        lines = local.read_texts(Path(texts))
        events = local.kinesis_events(
            lines,
            batch_size=settings.batch_size,
            text_field=settings.text_field,
            text_is_json=settings.text_is_json,
        )
        return CompareInput(events, _texts_by_key(events, lines), f"texts file {texts}")
    return None


def check_stream(settings: Settings, records: int | None, region: str) -> str | None:
    """The Kinesis stream --records reads, checked locally; None without --records."""
    if records is None:
        return None
    if not 1 <= records <= MAX_STREAM_RECORDS:
        raise UsageError(f"--records must be between 1 and {MAX_STREAM_RECORDS:,}, got {records}")
    arn = settings.stream_arn
    if not arn:
        raise UsageError(
            "--records reads a Kinesis stream: pass --stream-arn ARN or set stream-arn in "
            "mlayer.toml"
        )
    if parse_arn(arn).service != "kinesis":
        raise UsageError(f"--stream-arn {arn} is not a Kinesis stream: compare reads Kinesis only")
    mismatch = region_mismatch("--stream-arn", arn, region)
    if mismatch:
        raise UsageError(mismatch)
    return arn


def compare(
    settings: Settings,
    a: ModelRef,
    b: ModelRef,
    *,
    event: str | None,
    texts: str | None,
    records: int | None,
    deps_zip: str | None,
    deps_version: int | None,
    aws: Callable[[], Aws],
    on_message: Callable[[str], None],
) -> CompareResult:
    """Check the input and both models, read the records, run A then B, count.

    Every check (the input, the stream's ARN, that both versions exist) comes
    before the stream is read or a model is zipped or run.
    """
    clients: list[Aws] = []

    def connect() -> Aws:  # one client for every call, made when first needed
        if not clients:
            clients.append(aws())
        return clients[0]

    given = read_local_input(settings, event=event, texts=texts, records=records)
    arn = None if given else check_stream(settings, records, connect().region)
    wanted = sorted({ref.version for ref in (a, b) if ref.version is not None})
    if wanted:
        check_versions(connect(), settings.model_layer, wanted)
    if given is None:
        assert arn is not None and records is not None
        given = _stream_input(settings, connect(), arn, records)
    with tempfile.TemporaryDirectory(prefix="mlayer-compare-") as tmp:
        zips: dict[str, tuple[Path, str]] = {}
        deps_path: Path | None = None
        for key, ref in (("a", a), ("b", b)):
            model_zip = None
            if ref.files:  # scanned and zipped as publish-model does; never loaded here
                _, summary = package_model(
                    list(ref.files),
                    None,
                    Path(tmp) / key,
                    trust_globals=settings.trust_global,
                    allow_version_mismatch=settings.allow_version_mismatch,
                )
                model_zip = str(summary.path)
            deps, model = invoke_ops.local_zips(
                settings,
                deps_zip=deps_zip,
                deps_version=deps_version,
                model_zip=model_zip,
                model_version=ref.version,
                aws=connect,
                on_message=on_message,
            )
            # B runs on the deps layer A ran on (fetched once).
            deps_path, deps_zip, deps_version = deps.path, str(deps.path), None
            origin = f"{len(ref.files)} model file(s) zipped here" if ref.files else model.origin
            zips[key] = (model.path, origin)
        assert deps_path is not None
        results = {}
        for key, ref in (("a", a), ("b", b)):
            path, origin = zips[key]
            name = _name(settings, ref)
            on_message(f"running {key.upper()} = {name} ({origin}) on {given.origin}")
            # Twice over the events: the second pass is the warm one that is timed.
            try:
                invocation = invoke_ops.run_local(
                    settings, given.events, [deps_path, path], repeat=2
                )
            except MlayerError as exc:  # say which of the two it was
                raise MlayerError(f"model {key.upper()} ({name}): {exc}") from exc
            results[key] = (comparison.answers(invocation.results, name), invocation, origin)
    answers_a, run_a, origin_a = results["a"]
    answers_b, run_b, origin_b = results["b"]
    compared = comparison.compare(answers_a, answers_b, given.texts)
    records = sum(len(_records_of(event)) for event in given.events)
    return CompareResult(
        a=ModelResult(_name(settings, a), origin_a, _timing(run_a, len(answers_a.predictions))),
        b=ModelResult(_name(settings, b), origin_b, _timing(run_b, len(answers_b.predictions))),
        origin=given.origin,
        records=records,
        comparison=compared,
    )


def check_versions(aws: Aws, layer_name: str, versions: list[int]) -> None:
    existing = [v.version for v in aws.layer_versions(layer_name)]
    missing = [v for v in versions if v not in existing]
    if missing:
        listed = ", ".join(str(v) for v in sorted(existing)) or "none: run mlayer publish-model"
        raise UsageError(
            f"model layer {layer_name} has no version {missing[0]} (existing: {listed})"
        )


def _name(settings: Settings, ref: ModelRef) -> str:
    return f"{settings.model_layer}:{ref.version}" if ref.version else ref.given


def _timing(invocation: local.Invocation, records: int) -> Timing:
    passes = len(invocation.results)  # runs: the first pass's invocations, then the warm one's
    durations = [run["duration_ms"] for run in invocation.runs]
    return comparison.timing(
        invocation.init_ms, durations[passes:], records, first_pass_ms=durations[:passes]
    )


def _records_of(event: dict[str, Any]) -> list[Any]:
    for key in ("Records", "texts", "records"):  # the shapes the handler reads
        if isinstance(event.get(key), list):
            return list(event[key])
    return []


def _texts_by_key(events: list[dict[str, Any]], texts: list[str]) -> dict[RecordKey, str]:
    ids = [
        (index, record["kinesis"]["sequenceNumber"], 0)  # unique: local.kinesis_events
        for index, event in enumerate(events)
        for record in event["Records"]
    ]
    return dict(zip(ids, texts, strict=True))


def _stream_input(settings: Settings, client: Aws, arn: str, count: int) -> CompareInput:
    found = client.newest_records(arn, count)
    if not found:
        raise UsageError(f"stream {arn} holds no records to compare on")
    batches = stream_batches(found, settings.batch_size)
    events = [stream_event(batch, arn) for batch in batches]
    texts: dict[RecordKey, str] = {}
    for index, batch in enumerate(batches):
        for item in batch:
            text = _text_of(item.data, settings.text_field, settings.text_is_json)
            if text is not None:  # unique within a shard, and an event holds one shard's
                texts[(index, item.sequence_number, 0)] = text
    return CompareInput(events, texts, f"the newest {len(found)} record(s) of {arn}")


def stream_batches(found: list[StreamRecord], batch_size: int) -> list[list[StreamRecord]]:
    """The records as a trigger batches them: one shard's per batch, in the shard's
    order, at most ``batch_size`` each."""
    by_shard: dict[str, list[StreamRecord]] = {}
    for item in found:
        by_shard.setdefault(item.shard_id, []).append(item)
    return [
        records[start : start + batch_size]
        for records in by_shard.values()
        for start in range(0, len(records), batch_size)
    ]


def stream_event(batch: list[StreamRecord], stream_arn: str) -> dict[str, Any]:
    """A Kinesis event as Lambda's trigger delivers these records."""
    region = stream_arn.split(":")[3]
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": item.partition_key,
                    "sequenceNumber": item.sequence_number,
                    "data": base64.b64encode(item.data).decode(),
                    "approximateArrivalTimestamp": item.arrived.timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{item.shard_id}:{item.sequence_number}",
                "eventName": "aws:kinesis:record",
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for item in batch
        ]
    }


def _text_of(data: bytes, text_field: str, text_is_json: bool) -> str | None:
    """The record's text for the listing of disagreements; None where it does not
    decode (the handler reports such a record as failed)."""
    try:
        value = json.loads(data)[text_field]
        if text_is_json:
            value = json.loads(value)
    except (ValueError, TypeError, KeyError):
        return None
    return value if isinstance(value, str) else None
