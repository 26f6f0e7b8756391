"""What the benchmarks share: the layers (mlayer's and the naive one), the models,
the seed's handler, events, and a table printer.

Everything is built under build/bench/ (reused between runs; ``--rebuild``
starts over). Nothing here is part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
HANDLER_DIR = ROOT / "handler"
WORK = ROOT / "build" / "bench"
REQUIREMENTS = EXAMPLES / "requirements.txt"
MLAYER = str(Path(sys.executable).with_name("mlayer"))

sys.path.insert(0, str(EXAMPLES))
import train as example_train  # noqa: E402

from mlayer.layerbuild.pip import target_flags  # noqa: E402
from mlayer.local import find_interpreter, kinesis_events  # noqa: E402
from mlayer.ops.model import package_model  # noqa: E402
from mlayer.targets import RUNTIMES, Target, resolve_target  # noqa: E402

TARGET = resolve_target("python3.11", "x86_64")
# The stack for Amazon Linux 2023's runtimes (python3.12+): today's releases, whose
# wheels need glibc 2.27/2.28, more than python3.11's Amazon Linux 2 has.
AL2023_REQUIREMENTS = EXAMPLES / "requirements-al2023.txt"  # python3.12+


def add_runtime_option(parser: argparse.ArgumentParser) -> None:
    """``--runtime``, by default the running Python's (python3.11 when Lambda has none)."""
    running = "python{}.{}".format(*sys.version_info[:2])
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default=running if running in RUNTIMES else TARGET.runtime,
        help="Lambda runtime to build and measure for [default: the running Python's]",
    )


def target_of(runtime: str) -> Target:
    return resolve_target(runtime, "x86_64")


def work_dir(target: Target = TARGET) -> Path:
    """Where a runtime's layers and models are kept (python3.11's where they always were)."""
    return WORK if target == TARGET else WORK / target.runtime


def requirements(target: Target = TARGET) -> Path:
    """The example's requirements for python3.11 (Amazon Linux 2), today's stack after."""
    if target.glibc <= TARGET.glibc:
        return REQUIREMENTS
    return AL2023_REQUIREMENTS


# The seed article's lambda_function.py, verbatim but for two things: ``from
# sklearn.externals import joblib`` (removed from scikit-learn in 0.23) is
# ``import joblib``, and /opt is a variable so the benchmark can place it.
SEED_HANDLER = """
import base64
import json
import os
import joblib

OPT = os.environ.get("SEED_OPT", "/opt")
PREP1_FILE_NAME = OPT + '/PreProc1_MyModel.joblib'
PREP2_FILE_NAME = OPT + '/PreProc2_MyModel.joblib'
MODEL_FILE_NAME = OPT + '/MyModel.joblib'

def predict(data):
    # Load the model pre-processors
    pre1 = joblib.load(PREP1_FILE_NAME)
    pre2 = joblib.load(PREP2_FILE_NAME)
    clf = joblib.load(MODEL_FILE_NAME)
    print("Loaded Model and pre-processors")
    # perform the prediction
    X1 = pre1.transform(data)
    X2 = pre2.transform(X1)
    output = dict(zip(data, clf.predict(X2)[:]))
    return output

def lambda_handler(event, context):
    predictList = []
    for record in event['Records']:
        # decode the base64 Kinesis data
        decoded_record_data = base64.b64decode(record['kinesis']['data'])
        # load the dynamo DB record
        deserialized_data = json.loads(decoded_record_data)
        predictList.append(json.loads(deserialized_data['textblob']))
    result = predict(predictList)
    return result
"""
SEED_NAMES = ("PreProc1_MyModel.joblib", "PreProc2_MyModel.joblib", "MyModel.joblib")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def interpreter(target: Target = TARGET) -> Path:
    """The runtime's Python itself (not this virtualenv), as the runtime has it."""
    return find_interpreter(target)


def runs_here(target: Target) -> bool:
    return target.python_version == sys.version_info[:2]


def venv_python(target: Target) -> Path:
    """This Python for its own runtime; for another, a virtualenv of that runtime's Python
    with the runtime's stack and this checkout (as tests/test_runtimes.py makes one),
    made once under build/bench/<runtime>/venv, pip's cache reused. Models are packaged
    there, so their manifests record the runtime's Python and numpy."""
    if runs_here(target):
        return Path(sys.executable)
    root = work_dir(target) / "venv"
    python = root / "bin" / "python"
    if not (root / "bin" / "mlayer").is_file():
        log(f"making a {target.runtime} virtualenv with {requirements(target).name}")
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([str(interpreter(target)), "-m", "venv", str(root)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "-r", str(requirements(target)), "-e", str(ROOT)],
            check=True,
        )  # fmt: skip
    return python


def in_venv(target: Target, code: str) -> str:
    """Run ``code`` (with this module imported as ``c``) in the runtime's virtualenv;
    its last line of output."""
    prelude = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import _common as c\n"
    )
    done = subprocess.run(
        [str(venv_python(target)), "-c", prelude + code],
        check=True,
        capture_output=True,
        text=True,
    )
    return (done.stdout.strip().splitlines() or [""])[-1]


# --- layers -----------------------------------------------------------------------


def mlayer_deps_zip(
    rebuild: bool, target: Target = TARGET, defer_sample: Sequence[Path] = ()
) -> Path:
    """The example's deps layer as ``mlayer build-deps`` builds it (pip builder); with
    ``defer_sample`` (model files, then a sample event), ``--defer-imports`` too."""
    out = work_dir(target) / ("mlayer-defer" if defer_sample else "mlayer")
    zip_path = out / "deps-layer.zip"
    if rebuild or not zip_path.is_file():
        how = "--defer-imports, " if defer_sample else ""
        log(f"building mlayer's deps layer for {target.runtime} (build-deps {how}--builder pip)")
        sample = [f"--sample-model={p}" for p in defer_sample[:-1]]
        if defer_sample:
            sample += ["--defer-imports", f"--sample-event={defer_sample[-1]}"]
        subprocess.run(
            [
                str(venv_python(target).with_name("mlayer")) if not runs_here(target) else MLAYER,
                "build-deps",
                *sample,
                "-r",
                str(requirements(target)),
                "--runtime",
                target.runtime,
                "--builder",
                "pip",
                "--out",
                str(out),
                *(["--no-cache"] if rebuild else []),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return zip_path


def naive_deps_dir(rebuild: bool, target: Target = TARGET) -> Path:
    """The seed's layer: a plain ``pip install --target python --no-compile`` (with the
    runtime's wheel tags when it is not this Python's)."""
    root = work_dir(target) / "naive" / "opt"
    if rebuild or not (root / "python" / "sklearn").is_dir():
        log(f"building the naive deps layer for {target.runtime} (pip install --target)")
        shutil.rmtree(root, ignore_errors=True)
        same = target.python_version == sys.version_info[:2]
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-compile", "--target", str(root / "python"), "-r", str(requirements(target)),
             *([] if same else target_flags(target))],
            check=True,
        )  # fmt: skip
    return root


def extract(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)
    return dest


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# --- models -------------------------------------------------------------------------


def example_model(version: int = 1, target: Target = TARGET) -> list[Path]:
    """The example model; for another runtime, trained by that runtime's Python with
    the naive layer's scikit-learn, so the model and layer versions match."""
    out = work_dir(target) / "models" / f"example-v{version}"
    paths = [out / name for name in example_train.FILES]
    if all(p.is_file() for p in paths):
        return paths
    if target == TARGET:
        return example_train.train(version, out)
    site = naive_deps_dir(False, target) / "python"
    code = (
        f"import sys; sys.path[:0] = [{str(site)!r}, {str(EXAMPLES)!r}]; "
        f"import train; train.train({version}, __import__('pathlib').Path({str(out)!r}))"
    )
    subprocess.run([str(interpreter(target)), "-I", "-S", "-B", "-c", code], check=True)
    return paths


def large_model(
    min_bytes: int = 20_000_000, target: Target = TARGET, out: Path | None = None
) -> list[Path]:
    """A realistically large text model: a 1-3-gram vocabulary of a few hundred
    thousand terms and a classifier over it, ≥ 20 MB of joblib in all; for another
    runtime, trained in its virtualenv."""
    out = out or work_dir(target) / "models" / "large"
    paths = [out / name for name in example_train.FILES]
    if all(p.is_file() for p in paths) and sum(p.stat().st_size for p in paths) >= min_bytes:
        return paths
    if not runs_here(target):
        in_venv(
            target,
            f"c.large_model({min_bytes}, c.target_of({target.runtime!r}), "
            f"__import__('pathlib').Path({str(out)!r}))",
        )
        return paths
    import random

    import joblib
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    log("training a large model (>= 20 MB of joblib)")
    rng = random.Random(7)
    words = [f"w{i}" for i in range(40_000)]
    texts, labels = [], []
    for i in range(20_000):
        label = ("positive", "negative", "neutral")[i % 3]
        marker = example_train.POSITIVE if label == "positive" else example_train.NEGATIVE
        sentence = rng.sample(words, 12) + rng.sample(marker, 2)
        rng.shuffle(sentence)
        texts.append(" ".join(sentence))
        labels.append(label)
    vectorizer = CountVectorizer(ngram_range=(1, 3))
    tfidf = TfidfTransformer()
    features = tfidf.fit_transform(vectorizer.fit_transform(texts))
    classifier = LogisticRegression(max_iter=200).fit(features, labels)
    out.mkdir(parents=True, exist_ok=True)
    for step, path in zip((vectorizer, tfidf, classifier), paths, strict=True):
        joblib.dump(step, path)
    return paths


def model_bytes(paths: Sequence[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def mlayer_model_zip(paths: list[Path], name: str, target: Target = TARGET) -> Path:
    """The model layer zip, packaged by the runtime's Python (its virtualenv)."""
    out = work_dir(target) / "model-zips" / name
    if not runs_here(target):
        files = [str(p) for p in paths]
        return Path(
            in_venv(
                target,
                "from pathlib import Path; from mlayer.ops.model import package_model; "
                f"print(package_model([Path(p) for p in {files!r}], {name!r}, Path({str(out)!r}))"
                "[1].path)",
            )
        )
    _, summary = package_model(paths, name, out)
    return summary.path


def seed_model_dir(paths: list[Path], dest: Path) -> Path:
    """The seed's model layer: the joblib files at the root of /opt."""
    dest.mkdir(parents=True, exist_ok=True)
    for source, name in zip(paths, SEED_NAMES, strict=True):
        shutil.copyfile(source, dest / name)
    return dest


def write_seed_handler(task: Path) -> Path:
    task.mkdir(parents=True, exist_ok=True)
    (task / "lambda_function.py").write_text(SEED_HANDLER)
    return task


# --- events -------------------------------------------------------------------------


def texts(count: int) -> list[str]:
    sample, _ = example_train.make_reviews(count, seed=99)
    return sample


def seed_event(count: int) -> dict[str, Any]:
    """A Kinesis batch in the seed's format: the text field holds a JSON-encoded string."""
    return kinesis_events(texts(count), batch_size=count, text_is_json=True)[0]


# --- reporting ----------------------------------------------------------------------


def human_bytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table: readable on a terminal, pasteable into the notes."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))


def dump_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
