"""The handler in a separate interpreter: integrity at cold start, the version
check, the event shapes AWS sends, the log sink. The model layer is the one
``publish-model`` packages, and the handler's process is started with ``-I``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import joblib
import pytest
from conftest import ROOT

from mlayer.contract import content_id
from mlayer.layerbuild.archive import safe_extract
from mlayer.ops.model import package_model

sys.path.insert(0, str(Path(__file__).parent / "events"))
from lambda_child import run_handler

HANDLER = ROOT / "handler"
EVENTS = Path(__file__).parent / "events"
OTHER_SKLEARN = b"1.6.1"


def model_layer(files: list[Path], out: Path, label: str = "v1") -> Path:
    """The model's directory as Lambda mounts the layer (/opt/mlayer-model/<content id>)."""
    manifest, summary = package_model(files, label, out)
    safe_extract(summary.path, out / "model")  # as Lambda unpacks the layer under /opt
    return out / "model" / "mlayer-model" / content_id(manifest.content_sha256)


def with_sklearn_version(files: list[Path], out: Path, version: bytes) -> list[Path]:
    """Copies of the joblib files whose estimators record another ``_sklearn_version``."""
    import sklearn

    current = sklearn.__version__.encode()
    assert len(current) == len(version)  # a same-length edit keeps the pickle valid
    out.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in files:
        data = path.read_bytes()
        marker = b"\x8c" + bytes([len(current)]) + current  # SHORT_BINUNICODE "1.7.2"
        assert data.count(marker) == 1
        copy = out / path.name
        copy.write_bytes(data.replace(marker, b"\x8c" + bytes([len(version)]) + version))
        copies.append(copy)
    return copies


def expected_predictions(files: list[Path], texts: list[str]) -> list[str]:
    steps = [joblib.load(p) for p in files]
    features: object = texts
    for step in steps[:-1]:
        features = step.transform(features)
    return list(steps[-1].predict(features))


def event(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((EVENTS / name).read_text())  # type: ignore[no-any-return]


def test_kinesis_batch_predicts_good_records_in_order_and_reports_the_bad_one(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    layer = model_layer(model_v1, tmp_path)
    run = run_handler(HANDLER, layer, event("kinesis.json"))
    assert run.error is None
    records = event("kinesis.json")["Records"]
    seq = [r["kinesis"]["sequenceNumber"] for r in records]
    texts = [
        "great product, love it, fast delivery",
        "broken and slow, I want a refund",
        "excellent and reliable, recommend",
    ]
    assert run.result["predictions"] == [
        {"id": record_id, "prediction": value}
        for record_id, value in zip(
            [seq[0], seq[1], seq[3]], expected_predictions(model_v1, texts), strict=True
        )
    ]
    assert run.result["batchItemFailures"] == [{"itemIdentifier": seq[2]}]
    # The handler ships alone: it never imports the CLI's packages.
    assert "mlayer" not in run.imported and "click" not in run.imported
    # The default sink: one JSON line per batch in the function log.
    (line,) = [json.loads(x) for x in run.log if x.startswith("{")]
    assert line["mlayer"] == "predictions" and line["count"] == 3 and line["label"] == "v1"
    assert [p["id"] for p in line["predictions"]] == [seq[0], seq[1], seq[3]]


def test_a_poison_record_is_reported_alone_and_the_batch_is_predicted(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    """A 2 kB record nesting 1,100 levels used to raise RecursionError out of the
    handler: the whole batch failed, and a stream trigger retries it until it expires."""
    import base64

    good = ["great product, love it", "broken and slow"]
    poison = b'{"textblob": ' + b"[" * 1100 + b"]" * 1100 + b"}"
    payloads = [
        json.dumps({"textblob": good[0]}).encode(),
        poison,
        json.dumps({"textblob": good[1]}).encode(),
    ]
    records = [
        {
            "eventSource": "aws:kinesis",
            "kinesis": {"sequenceNumber": f"49{i}", "data": base64.b64encode(data).decode()},
        }
        for i, data in enumerate(payloads)
    ]
    run = run_handler(HANDLER, model_layer(model_v1, tmp_path), {"Records": records})
    assert run.error is None, run.error
    assert run.result["batchItemFailures"] == [{"itemIdentifier": "491"}]
    values = expected_predictions(model_v1, good)
    assert run.result["predictions"] == [
        {"id": "490", "prediction": values[0]},
        {"id": "492", "prediction": values[1]},
    ]


def test_direct_invocation_texts_and_records(tmp_path: Path, model_v1: list[Path]) -> None:
    layer = model_layer(model_v1, tmp_path)
    texts = ["love it, perfect", "awful and late"]
    run = run_handler(HANDLER, layer, {"texts": texts})
    values = expected_predictions(model_v1, texts)
    assert run.result == {
        "predictions": [{"id": "0", "prediction": values[0]}, {"id": "1", "prediction": values[1]}],
        "batchItemFailures": [],
    }
    records = [{"id": "a", "text": texts[0]}, {"id": "b"}, {"id": "c", "textblob": texts[1]}]
    run = run_handler(HANDLER, layer, {"records": records})
    assert run.result["predictions"] == [
        {"id": "a", "prediction": values[0]},
        {"id": "c", "prediction": values[1]},
    ]
    assert run.result["batchItemFailures"] == [{"itemIdentifier": "b"}]


def test_unknown_event_shape_is_an_invocation_error(tmp_path: Path, model_v1: list[Path]) -> None:
    run = run_handler(HANDLER, model_layer(model_v1, tmp_path), {"hello": "world"})
    assert run.error is not None and run.error["phase"] == "invoke"
    assert "texts" in run.error["message"] and "Records" in run.error["message"]


def test_tampered_model_file_fails_init_naming_it_and_loads_nothing(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    layer = model_layer(model_v1, tmp_path)
    target = layer / "2_tfidf.joblib"
    data = bytearray(target.read_bytes())
    data[-5] ^= 0xFF  # one flipped byte, same size
    target.write_bytes(bytes(data))
    run = run_handler(HANDLER, layer, event("kinesis.json"))
    assert run.error is not None and run.error["phase"] == "init"
    assert run.error["type"] == "ModelLayerError"
    assert str(target) in run.error["message"] and "sha256" in run.error["message"]
    print("tampered model, handler init:", run.error["message"])
    # Verified before anything from the deps layer was imported, let alone unpickled.
    assert "joblib" not in run.imported and "sklearn" not in run.imported


def test_missing_and_extra_files_fail_init_naming_the_file(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    layer = model_layer(model_v1, tmp_path / "a")
    (layer / "3_classifier.joblib").unlink()
    run = run_handler(HANDLER, layer, event("kinesis.json"))
    assert run.error is not None and "3_classifier.joblib is missing" in run.error["message"]

    layer = model_layer(model_v1, tmp_path / "b")
    shutil.copyfile(model_v1[0], layer / "0_extra.joblib")
    run = run_handler(HANDLER, layer, event("kinesis.json"))
    assert run.error is not None
    assert "0_extra.joblib is not in the manifest" in run.error["message"]
    assert "joblib" not in run.imported


def test_manifest_edited_to_another_file_hash_is_refused(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    """Editing a file's hash in the manifest breaks the manifest's own content hash."""
    layer = model_layer(model_v1, tmp_path)
    manifest = json.loads((layer / "manifest.json").read_text())
    manifest["files"][0]["sha256"] = "0" * 64
    (layer / "manifest.json").write_text(json.dumps(manifest))
    run = run_handler(HANDLER, layer, event("kinesis.json"))
    assert run.error is not None and "content_sha256" in run.error["message"]


def test_a_different_model_than_deployed_is_refused(tmp_path: Path, model_v1: list[Path]) -> None:
    layer = model_layer(model_v1, tmp_path)
    run = run_handler(HANDLER, layer, {"texts": ["x"]}, {"MLAYER_MODEL_SHA256": "0123456789abcdef"})
    assert run.error is not None
    assert "deployed with 0123456789abcdef" in run.error["message"]
    content = json.loads((layer / "manifest.json").read_text())["content_sha256"]
    ok = run_handler(HANDLER, layer, {"texts": ["x"]}, {"MLAYER_MODEL_SHA256": content[:16]})
    assert ok.error is None


def test_model_saved_with_another_sklearn_fails_init_unless_allowed(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    old = with_sklearn_version(model_v1, tmp_path / "files", OTHER_SKLEARN)
    layer = model_layer(old, tmp_path / "layer")
    manifest = json.loads((layer / "manifest.json").read_text())
    assert manifest["trained_with"]["scikit-learn"] == "1.6.1"  # read from the estimators
    run = run_handler(HANDLER, layer, {"texts": ["great"]})
    assert run.error is not None and run.error["phase"] == "init"
    message = run.error["message"]
    assert "scikit-learn 1.6.1 (model) vs 1.7.2 (deps)" in message
    assert "rebuild the deps layer" in message and "retrain" in message

    allowed = run_handler(
        HANDLER, layer, {"texts": ["great"]}, {"MLAYER_ALLOW_VERSION_MISMATCH": "scikit-learn"}
    )
    assert allowed.error is None and len(allowed.result["predictions"]) == 1
    assert any("allowed version mismatch" in line for line in allowed.log)


def test_inconsistent_version_warning_becomes_the_refusal(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    """A manifest that claims the right version over a pickle that records another:
    scikit-learn's own InconsistentVersionWarning stops the load."""
    old = with_sklearn_version(model_v1, tmp_path / "files", OTHER_SKLEARN)
    layer = model_layer(old, tmp_path / "layer")
    manifest_path = layer / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["trained_with"]["scikit-learn"] = "1.7.2"
    manifest_path.write_text(json.dumps(manifest))
    run = run_handler(HANDLER, layer, {"texts": ["great"]})
    assert run.error is not None and run.error["phase"] == "init"
    assert (
        "model file 1_vectorizer.joblib: CountVectorizer was saved with scikit-learn 1.6.1"
        in (run.error["message"])
    )
    assert "1.7.2 (deps)" in run.error["message"]


@pytest.mark.parametrize("spec", ["nope", "dynamodb:", "s3:bucket"])
def test_unknown_sink_fails_init(tmp_path: Path, model_v1: list[Path], spec: str) -> None:
    run = run_handler(
        HANDLER, model_layer(model_v1, tmp_path), {"texts": []}, {"MLAYER_SINK": spec}
    )
    assert run.error is not None and f"MLAYER_SINK={spec!r}" in run.error["message"]
