"""Benchmark: the example's deps layer built naively vs with mlayer (default, --prune).

    .venv/bin/python benchmarks/bench_build.py [--runs 5]

Builds examples/requirements.txt for python3.11/x86_64 three ways in one run:
- naive: ``pip install --target --no-compile`` with the same target tags, zipped;
- mlayer: ``mlayer build-deps --builder pip`` (slim + unchecked-hash bytecode);
- mlayer --prune: traced on the example model and event (sourceless, stripped).
Then prints unzipped MB, zipped MB and the cold time of importing, loading the
example model (examples/train.py) and one prediction in a fresh interpreter run
as Lambda would (``-I -S -B``, only the layer on the path), median of --runs:
from spawning it to the prediction arriving, and, apart, to the process's exit.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))

from _common import (  # noqa: E402
    add_runtime_option,
    example_model,
    extract,
    requirements,
    target_of,
)

from mlayer.layerbuild.archive import directory_entries, write_zip  # noqa: E402
from mlayer.layerbuild.pip import target_flags  # noqa: E402
from mlayer.local import find_interpreter  # noqa: E402
from mlayer.targets import Target  # noqa: E402

MLAYER = [sys.executable, "-m", "mlayer"]
COLD = """
import sys, time
start = time.perf_counter()
sys.path.insert(0, {site!r})
import joblib
steps = [joblib.load(p) for p in {models!r}]
features = ["great product, fast delivery, I love it"]
for step in steps[:-1]:
    features = step.transform(features)
prediction = steps[-1].predict(features)
print(time.perf_counter() - start, prediction[0], flush=True)
"""


def build_naive(out: Path, target: Target) -> Path:
    site = out / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(site), "--no-compile",
         "-r", str(requirements(target)), *target_flags(target)],
        check=True,
    )  # fmt: skip
    return write_zip(directory_entries(out), out / "naive.zip").path


def build_mlayer(out: Path, target: Target, *extra: str) -> Path:
    subprocess.run(
        [*MLAYER, "build-deps", "-r", str(requirements(target)), "--runtime", target.runtime,
         "--builder", "pip",
         "--no-cache", "--out", str(out), *extra],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return out / "deps-layer.zip"


def cold_seconds(
    python: Path, sites: list[Path], models: list[Path], runs: int
) -> list[tuple[float, float, str]]:
    """Per layer, medians of (ready, exit) seconds of a fresh interpreter, and its answer.

    ready: from spawning the interpreter to its prediction arriving: a Lambda cold
    start (runtime start, import, init). exit: to the process ending, which adds
    the interpreter's teardown (about 0.2 s here) that no cold start waits for.
    The layers take turns within each round, so a machine busy with something
    else slows them all alike.
    """
    ready: list[list[float]] = [[] for _ in sites]
    exited: list[list[float]] = [[] for _ in sites]
    answers = [""] * len(sites)
    for round_ in range(runs + 1):
        for index, site in enumerate(sites):
            code = COLD.format(site=str(site), models=[str(m) for m in models])
            start = time.perf_counter()
            with subprocess.Popen(
                [str(python), "-I", "-S", "-B", "-c", code], stdout=subprocess.PIPE, text=True
            ) as process:
                assert process.stdout is not None
                answer = process.stdout.readline()
                answered = time.perf_counter()
                if process.wait() != 0 or not answer:
                    raise SystemExit(f"the cold run on {site} failed")
            ended = time.perf_counter()
            answers[index] = answer.split()[1]
            if round_:  # round 0 only warms the OS file cache, as an earlier cold start would
                ready[index].append(answered - start)
                exited[index].append(ended - start)
    return [
        (statistics.median(r), statistics.median(e), a)
        for r, e, a in zip(ready, exited, answers, strict=True)
    ]


def unzipped_bytes(zip_path: Path) -> int:
    import zipfile

    with zipfile.ZipFile(zip_path) as archive:
        return sum(info.file_size for info in archive.infolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    add_runtime_option(parser)
    args = parser.parse_args()
    target = target_of(args.runtime)
    python = find_interpreter(target)
    with tempfile.TemporaryDirectory(prefix="mlayer-bench-") as tmp:
        work = Path(tmp)
        models = example_model(1, target)
        event = EXAMPLES / "event.json"
        samples = [a for m in models for a in ("--sample-model", str(m))]
        built = []
        for name, build in (
            ("naive pip --target", lambda: build_naive(work / "naive", target)),
            ("mlayer (default)", lambda: build_mlayer(work / "default", target)),
            (
                "mlayer --prune",
                lambda: build_mlayer(
                    work / "prune", target, "--prune", *samples, "--sample-event", str(event)
                ),
            ),
        ):
            started = time.perf_counter()
            zip_path = build()
            # mlayer keeps only the zip: time the layer as Lambda mounts it, unzipped.
            site = (
                zip_path.parent / "python"
                if name.startswith("naive")
                else extract(zip_path, zip_path.parent / "opt") / "python"
            )
            built.append((name, zip_path, site, time.perf_counter() - started))
        colds = cold_seconds(python, [site for _, _, site, _ in built], models, args.runs)
        rows = [
            (name, unzipped_bytes(zip_path), zip_path.stat().st_size, *cold, build_s)
            for (name, zip_path, _site, build_s), cold in zip(built, colds, strict=True)
        ]
    naive_cold, naive_exit = rows[0][3], rows[0][4]
    print(f"{target.runtime}/x86_64, {requirements(target).name}; median of {args.runs}")
    print(f"{'layer':<20} {'unzipped MB':>12} {'zipped MB':>10} {'cold s':>7} {'x naive':>7} "
          f"{'exit s':>7} {'x naive':>7} {'build s':>7}  prediction")  # fmt: skip
    for name, unzipped, zipped, cold, exit_s, answer, build_s in rows:
        print(
            f"{name:<20} {unzipped / 1e6:12.1f} {zipped / 1e6:10.1f} {cold:7.3f} "
            f"{cold / naive_cold:7.2f} {exit_s:7.3f} {exit_s / naive_exit:7.2f} {build_s:7.1f}  "
            f"{answer}"
        )
    print("(cold: spawn to prediction, as a cold start; exit: to the process's end, teardown too)")
    print("(MB = 10^6 bytes; Lambda's limits: 262,144,000 unzipped, 52,428,800 zipped direct)")


if __name__ == "__main__":
    main()
