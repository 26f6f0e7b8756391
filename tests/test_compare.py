"""mlayer compare A B: two models through the handler in child interpreters, on an
event file, a texts file or a Kinesis stream's newest records; the agreement
checked against the two models loaded here, in the test process (the CLI never
loads them); the refusals; and the counting itself (pure)."""

from __future__ import annotations

import base64
import json
import os
import random
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import joblib
import pytest
from conftest import Account, assert_one_line_error, one_line_error, run

from mlayer import comparison
from mlayer.comparison import Answers
from mlayer.local import kinesis_events

WORDS = ["great", "broken", "love", "slow", "fast", "refund", "happy", "late", "the", "box"]


def predict(files: list[Path], texts: list[str]) -> list[str]:
    """What the pipeline in ``files`` predicts, loaded here (the test may; the CLI may not)."""
    steps = [joblib.load(path) for path in files]
    features: object = texts
    for step in steps[:-1]:
        features = step.transform(features)
    return [str(p) for p in steps[-1].predict(features)]


@pytest.fixture(scope="module")
def deps_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deps layer made of this environment's own numpy/scipy/scikit-learn/joblib:
    the same Python (python3.11) as the runtime's, so the handler can import them,
    and no package index is needed (tests/test_local_invoke.py builds one with pip)."""
    site = Path(joblib.__file__).parents[1]
    path = tmp_path_factory.mktemp("deps") / "deps-layer.zip"
    names: tuple[str, ...] = ("sklearn", "numpy", "scipy", "joblib", "threadpoolctl.py")
    names += ("numpy.libs", "scipy.libs", "scikit_learn.libs")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name in names:
            top = site / name
            if top.is_file():
                archive.write(top, f"python/{name}")
            for folder, dirs, files in os.walk(top):
                if name in ("sklearn", "scipy"):  # numpy imports numpy._core.tests._natype
                    dirs[:] = [d for d in dirs if d != "tests"]
                for file in files:
                    full = Path(folder) / file
                    archive.write(full, f"python/{full.relative_to(site)}")
    return path


@pytest.fixture(scope="module")
def split_texts(model_v1: list[Path], model_v2: list[Path]) -> tuple[list[str], list[str]]:
    """Texts on which the example's models v1 and v2 agree, and texts on which they do not."""
    rng = random.Random(13)
    texts = [" ".join(rng.sample(WORDS, 4)) for _ in range(400)]
    pairs = zip(predict(model_v1, texts), predict(model_v2, texts), strict=True)
    differ = [text for text, (a, b) in zip(texts, pairs, strict=True) if a != b]
    same = [text for text in texts if text not in differ]
    assert len(differ) >= 3 and len(same) >= 3, "the two example models should disagree a bit"
    return same, differ


def texts_for(split: tuple[list[str], list[str]], agree: int, disagree: int) -> list[str]:
    same, differ = split
    texts = same[:agree] + differ[:disagree]
    random.Random(1).shuffle(texts)
    return texts


def expected(texts: list[str], a: list[Path], b: list[Path]) -> dict[str, object]:
    pa, pb = predict(a, texts), predict(b, texts)
    agreements = sum(x == y for x, y in zip(pa, pb, strict=True))
    pairs = sorted((x, y) for x, y in zip(pa, pb, strict=True) if x != y)
    return {"rate": agreements / len(texts), "agreements": agreements, "pairs": pairs}


@pytest.fixture
def published(aws: Account, project: Path, model_v1: list[Path], model_v2: list[Path]) -> Account:
    """fn-model:1 (the example v1) and fn-model:2 (v2), published to moto."""
    for files in (model_v1, model_v2):
        result = run("publish-model", *map(str, files), "--function-name", "fn")
        assert result.exit_code == 0, result.stderr
    return aws


def compare_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = run("compare", *args, "--function-name", "fn", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


# --- through the handler: two child interpreters each, over 10 s here (slow) -------


@pytest.mark.slow
def test_compare_versions_on_an_event_gives_the_models_own_agreement(
    published: Account,
    project: Path,
    deps_zip: Path,
    split_texts: tuple[list[str], list[str]],
    model_v1: list[Path],
    model_v2: list[Path],
) -> None:
    texts = texts_for(split_texts, agree=7, disagree=3)
    (event,) = kinesis_events(texts, batch_size=len(texts))
    poison = json.loads(json.dumps(event["Records"][0]))
    poison["kinesis"]["sequenceNumber"] = "4959" + "9" * 52
    poison["kinesis"]["data"] = base64.b64encode(b"not json").decode()
    event["Records"].append(poison)
    (project / "event.json").write_text(json.dumps(event))

    data = compare_json("1", "2", "--event", "event.json", "--deps-zip", str(deps_zip))

    want = expected(texts, model_v1, model_v2)
    assert data["agreement_rate"] == want["rate"] == 0.7
    assert (data["records"], data["compared"], data["agreements"]) == (11, 10, 7)
    got_pairs = sorted((d["a"], d["b"]) for d in data["disagreements"])
    assert got_pairs == want["pairs"]
    assert sum(row["count"] for row in data["confusion"]) == 3
    ids = {r["kinesis"]["sequenceNumber"]: t for r, t in zip(event["Records"], texts, strict=False)}
    differ = set(split_texts[1])
    assert {ids[d["id"]] for d in data["disagreements"]} <= differ
    assert data["failed_both"] == [poison["kinesis"]["sequenceNumber"]]
    assert data["failed_only_a"] == data["failed_only_b"] == []
    assert data["a"]["model"] == "fn-model:1" and data["b"]["model"] == "fn-model:2"
    assert "from store" in data["a"]["origin"]
    for side in ("a", "b"):
        timing = data[side]
        assert timing["records"] == 10
        assert timing["init_ms"] > 0 and timing["duration_ms"] > 0 and timing["first_pass_ms"] > 0
        assert timing["per_record_ms"] == pytest.approx(timing["duration_ms"] / 10, abs=1e-3)


@pytest.mark.slow
def test_compare_a_folder_on_texts_prints_the_table_and_the_records(
    published: Account,
    project: Path,
    deps_zip: Path,
    split_texts: tuple[list[str], list[str]],
    model_v1: list[Path],
    model_v2: list[Path],
) -> None:
    texts = texts_for(split_texts, agree=4, disagree=3)
    (project / "texts.txt").write_text("\n".join(texts) + "\n")
    folder = str(model_v1[0].parent)
    args: tuple[str, ...] = ("compare", folder, "2", "--texts", "texts.txt")
    args += ("--deps-zip", str(deps_zip))
    args += ("--function-name", "fn", "--batch-size", "3")  # 3 events: 3 + 3 + 1 records
    result = run(*args)
    assert result.exit_code == 0, result.stderr

    want = expected(texts, model_v1, model_v2)
    out = result.stdout
    assert f"A: {folder} (3 model file(s) zipped here)" in out
    assert "agreement: 57.1% (4 of 7 records)" in out
    assert "disagreements by class:" in out
    for a, b in set(want["pairs"]):  # type: ignore[call-overload]
        count = want["pairs"].count((a, b))  # type: ignore[attr-defined]
        assert any(line.split() == [a, "->", b, str(count)] for line in out.splitlines()), out
    differing = [line for line in out.splitlines() if "  A: " in line and "  B: " in line]
    assert len(differing) == 3
    for line in differing:  # each names its text, one of those the models differ on
        assert any(repr(text) in line for text in split_texts[1]), line
    assert out.count("ms per record") == 2


@pytest.mark.slow
def test_compare_on_the_newest_records_of_a_stream(
    published: Account,
    project: Path,
    deps_zip: Path,
    split_texts: tuple[list[str], list[str]],
    model_v1: list[Path],
    model_v2: list[Path],
) -> None:
    kinesis = published.client("kinesis")
    kinesis.create_stream(StreamName="ingest", ShardCount=2)
    arn = kinesis.describe_stream(StreamName="ingest")["StreamDescription"]["StreamARN"]

    def put(texts: list[str]) -> None:
        for number, text in enumerate(texts):
            data = json.dumps({"textblob": text}).encode()
            kinesis.put_record(StreamARN=arn, Data=data, PartitionKey=f"key-{number}")

    put(split_texts[1][-4:])  # older: not among the newest 6
    time.sleep(0.05)  # so that every newer record arrives strictly later, on either shard
    newest = texts_for(split_texts, agree=4, disagree=2)
    put(newest)
    shards = kinesis.list_shards(StreamARN=arn)["Shards"]
    assert len(shards) == 2

    before = kinesis.describe_stream(StreamName="ingest")["StreamDescription"]
    args = ("--records", "6", "--stream-arn", arn, "--deps-zip", str(deps_zip))
    data = compare_json("1", "2", *args, "--batch-size", "2")  # events of 2, one shard's each
    want = expected(newest, model_v1, model_v2)
    assert data["records"] == data["compared"] == 6, json.dumps(data)
    assert data["agreement_rate"] == want["rate"]
    assert sorted((d["a"], d["b"]) for d in data["disagreements"]) == want["pairs"]
    assert {d["text"] for d in data["disagreements"]} <= set(newest)
    assert data["input"] == f"the newest 6 record(s) of {arn}"
    # read-only: the stream is as it was, and has no consumer
    assert kinesis.describe_stream(StreamName="ingest")["StreamDescription"] == before
    assert kinesis.list_stream_consumers(StreamARN=arn)["Consumers"] == []


def test_newest_records_across_shards_in_arrival_order(aws: Account) -> None:
    from mlayer.aws import Aws

    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="many", ShardCount=3)
    arn = kinesis.describe_stream(StreamName="many")["StreamDescription"]["StreamARN"]
    for number in range(8):
        kinesis.put_record(StreamARN=arn, Data=b"%d" % number, PartitionKey=f"p{number}")
        time.sleep(0.002)  # distinct arrival times, so the expected order is one
    found = Aws(aws.client("kinesis").meta.region_name, None, aws.endpoint).newest_records(arn, 5)
    assert [record.data for record in found] == [b"3", b"4", b"5", b"6", b"7"]
    assert len({record.shard_id for record in found}) > 1
    everything = Aws("eu-west-1", None, aws.endpoint).newest_records(arn, 100)
    assert [record.data for record in everything] == [b"%d" % n for n in range(8)]


def test_newest_records_widen_the_window_only_when_it_holds_too_few(aws: Account) -> None:
    from mlayer.aws import Aws

    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="old", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="old")["StreamDescription"]["StreamARN"]
    for number in range(4):
        kinesis.put_record(StreamARN=arn, Data=b"%d" % number, PartitionKey="p")
    recent = Aws("eu-west-1", None, aws.endpoint)
    assert [r.data for r in recent.newest_records(arn, 3)] == [b"1", b"2", b"3"]
    # Ten hours on, the records are older than every window short of the whole
    # retention (24 h): read from TRIM_HORIZON, they are still found.
    later = Aws("eu-west-1", None, aws.endpoint)
    found = later.newest_records(arn, 3, now=datetime.now(UTC) + timedelta(hours=10))
    assert [r.data for r in found] == [b"1", b"2", b"3"]
    assert later.calls > recent.calls  # the wider windows were read too


# --- refusals: one line, before any model runs (fast) --------------------------------


def test_unknown_version_is_refused_before_anything_runs(
    published: Account, project: Path, split_texts: tuple[list[str], list[str]]
) -> None:
    (project / "texts.txt").write_text("great\n")
    result = run("compare", "1", "7", "--texts", "texts.txt", "--function-name", "fn")
    assert_one_line_error(result, "fn-model has no version 7", "existing: 1, 2")


def test_empty_input_is_refused(published: Account, project: Path) -> None:
    (project / "texts.txt").write_text("\n  \n")
    result = run("compare", "1", "2", "--texts", "texts.txt", "--function-name", "fn")
    assert_one_line_error(result, "texts file texts.txt is empty")
    (project / "event.json").write_text(json.dumps({"Records": []}))
    result = run("compare", "1", "2", "--event", "event.json", "--function-name", "fn")
    assert_one_line_error(result, "event file event.json has no records")


def test_empty_stream_is_refused(published: Account, project: Path) -> None:
    args = ("--records", "5", "--stream-arn", published.stream_arn, "--function-name", "fn")
    result = run("compare", "1", "2", *args)
    assert_one_line_error(result, f"stream {published.stream_arn} holds no records")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--event", "event.json", "--texts", "texts.txt"), "not --event and --texts"),
        ((), "none was given"),
        (("--texts", "texts.txt", "--records", "3"), "not --texts and --records"),
    ],
)
def test_exactly_one_input(project: Path, args: tuple[str, ...], fragment: str) -> None:
    (project / "event.json").write_text(json.dumps({"Records": [{}]}))
    (project / "texts.txt").write_text("great\n")
    result = run("compare", "1", "2", *args, "--function-name", "fn")
    assert_one_line_error(result, "give one of --event", fragment)


def test_a_stream_that_does_not_exist(published: Account, project: Path) -> None:
    missing = published.stream_arn.replace("reviews", "nothing")
    args = ("--records", "5", "--stream-arn", missing, "--function-name", "fn")
    assert_one_line_error(run("compare", "1", "2", *args), f"stream {missing} not found")


def test_stream_arn_needs_records(project: Path, aws: Account) -> None:
    result = run("compare", "1", "2", "--stream-arn", aws.stream_arn, "--function-name", "fn")
    assert_one_line_error(result, "--stream-arn is read with --records")


def test_records_need_a_kinesis_stream(project: Path, aws: Account) -> None:
    result = run("compare", "1", "2", "--records", "5", "--function-name", "fn")
    assert_one_line_error(result, "--records reads a Kinesis stream", "--stream-arn")
    table = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
    result = run("compare", "1", "2", "--records", "5", "--stream-arn", table)
    assert_one_line_error(result, "is not a Kinesis stream")
    other = aws.stream_arn.replace("eu-west-1", "us-east-2")
    result = run("compare", "1", "2", "--records", "5", "--stream-arn", other)
    assert_one_line_error(result, "us-east-2")
    result = run("compare", "1", "2", "--records", "0", "--stream-arn", aws.stream_arn)
    assert_one_line_error(result, "--records must be between 1")


def test_a_model_that_is_neither_a_version_nor_a_folder(project: Path) -> None:
    (project / "texts.txt").write_text("great\n")
    result = run("compare", "v1", "2", "--texts", "texts.txt")
    assert_one_line_error(result, "'v1' is neither a model layer version number nor a folder")
    (project / "empty").mkdir()
    result = run("compare", "empty", "2", "--texts", "texts.txt")
    assert_one_line_error(result, "folder empty holds no .joblib or .skops file")


def test_a_folder_with_an_untrusted_pickle_is_refused_unloaded(project: Path) -> None:
    """The folder's files are scanned as publish-model scans them: a pickle that
    names os.system is refused, and never run (it would create the marker)."""
    folder = project / "evil"
    folder.mkdir()
    marker = project / "ran"
    payload = b"cos\nsystem\n(V touch " + str(marker).encode() + b"\ntR."
    (folder / "model.joblib").write_bytes(payload)
    (project / "texts.txt").write_text("great\n")
    result = run("compare", "evil", "evil", "--texts", "texts.txt", "--deps-zip", "x.zip")
    assert_one_line_error(result, "os.system")
    assert not marker.exists()


def test_a_model_that_fails_in_the_handler_is_named(
    published: Account, project: Path, small_deps_zip: Path
) -> None:
    """A deps layer without scikit-learn: the handler's init fails, said for model A."""
    (project / "texts.txt").write_text("great\n")
    args = ("--texts", "texts.txt", "--deps-zip", str(small_deps_zip), "--function-name", "fn")
    result = run("compare", "1", "2", *args)
    line = one_line_error(result)  # after the progress lines
    assert line.startswith("Error: model A (fn-model:1): handler failed during init"), line


def test_stream_records_are_batched_per_shard_as_a_trigger_does() -> None:
    from mlayer.aws.streams import StreamRecord
    from mlayer.ops.compare import stream_batches, stream_event

    at = datetime(2026, 11, 25, tzinfo=UTC)
    found = [
        StreamRecord(f"shardId-{n % 2}", str(n), "k", b"{}", at + timedelta(seconds=n))
        for n in range(5)
    ]
    batches = stream_batches(found, batch_size=2)
    numbers = [[r.sequence_number for r in batch] for batch in batches]
    assert numbers == [["0", "2"], ["4"], ["1", "3"]]
    arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/s"
    record = stream_event(batches[2], arn)["Records"][1]
    assert record["eventID"] == "shardId-1:3" and record["awsRegion"] == "eu-west-1"
    assert base64.b64decode(record["kinesis"]["data"]) == b"{}"


# --- the counting (pure) -----------------------------------------------------------


def test_comparison_counts_agreements_pairs_and_one_sided_failures() -> None:
    results_a = [
        {
            "predictions": [
                {"id": "1", "prediction": "pos"},
                {"id": "2", "prediction": "neg"},
                {"id": "3", "prediction": "pos"},
                {"id": "4", "prediction": "pos"},
            ],
            "batchItemFailures": [{"itemIdentifier": "5"}, {"itemIdentifier": "6"}],
        },
        {"predictions": [{"id": "1", "prediction": "neg"}], "batchItemFailures": []},
    ]
    results_b = [
        {
            "predictions": [
                {"id": "1", "prediction": "pos"},
                {"id": "2", "prediction": "pos"},
                {"id": "3", "prediction": "neg"},
                {"id": "5", "prediction": "neg"},
            ],
            "batchItemFailures": [{"itemIdentifier": "4"}, {"itemIdentifier": "6"}],
        },
        # the same id in another event is another record
        {"predictions": [{"id": "1", "prediction": "pos"}], "batchItemFailures": []},
    ]
    a, b = comparison.answers(results_a, "A"), comparison.answers(results_b, "B")
    texts = {(0, "2", 0): "meh"}
    result = comparison.compare(a, b, texts)
    assert (result.compared, result.agreements) == (4, 1)
    assert result.agreement_rate == 0.25
    assert [(d.id, d.a, d.b, d.text) for d in result.disagreements] == [
        ("2", "neg", "pos", "meh"),
        ("3", "pos", "neg", None),
        ("1", "neg", "pos", None),
    ]
    assert result.confusion == [("neg", "pos", 2), ("pos", "neg", 1)]
    assert (result.failed_only_a, result.failed_only_b, result.failed_both) == (["5"], ["4"], ["6"])


def test_records_sharing_an_id_in_one_event_are_each_counted() -> None:
    rows = [{"id": "1", "prediction": "pos"}, {"id": "1", "prediction": "neg"}]
    a = comparison.answers([{"predictions": rows}], "A")
    b = comparison.answers([{"predictions": [rows[0], rows[0]]}], "B")
    result = comparison.compare(a, b)
    assert (result.compared, result.agreements) == (2, 1)
    assert [(d.a, d.b) for d in result.disagreements] == [("neg", "pos")]


def test_comparison_of_nothing_has_no_rate() -> None:
    empty = Answers({}, frozenset())
    assert comparison.compare(empty, empty).agreement_rate is None
    timing = comparison.timing(100.0, [], 0)
    assert timing.per_record_ms is None and timing.to_dict()["per_record_ms"] is None


def test_a_handler_that_breaks_the_contract_is_named() -> None:
    from mlayer.errors import MlayerError

    with pytest.raises(MlayerError, match="not the contract's"):
        comparison.answers([{"ok": True}], "fn-model:1")
