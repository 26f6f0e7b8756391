"""Warm invocations: 500-record batches, one process, the layers already imported.

In one ``python3.11 -I -S -B`` on mlayer's deps layer, for the example model
and for a realistically large one (>= 20 MB of joblib), calls interleaved:

- the floor: a bare decode of the records + ``predict()`` on the pipeline
  already in memory, nothing else;
- mlayer's handler (the model was loaded once, at import), writing its EMF metrics
  line as in Lambda;
- the seed's handler, which loads the joblib files inside every call;
- then, in rounds of their own, mlayer's handler again and mlayer's handler with a
  shadow model (``MLAYER_SHADOW_MODEL``): the live model and the shadow predict each
  batch, and the shadow line is logged. The example's shadow is example v2; the large
  model's is the large model again (a shadow of its size).

    .venv/bin/python benchmarks/bench_warm.py [--calls 15] [--batch 500] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import _common as c

from mlayer.model import layer_model

DRIVER = """
import base64, contextlib, io, json, sys, time
task_mlayer, task_seed, python_dir, event_path, calls, shadow_id = sys.argv[1:7]
sys.path[:0] = [task_mlayer, task_seed, python_dir]
import mlayer_handler, mlayer_shadow, lambda_function
with open(event_path) as handle:
    event = json.load(handle)
pipeline = mlayer_handler.PIPELINE
assert mlayer_handler.METRICS is not None  # the live-only handler writes its metrics
shadow = mlayer_shadow.Shadow.load(mlayer_handler.MODEL_DIR, pipeline.content_id, shadow_id)
assert shadow.pipeline is not None, shadow.error

def floor():
    texts = [
        json.loads(json.loads(base64.b64decode(r["kinesis"]["data"]))["textblob"])
        for r in event["Records"]
    ]
    features = texts
    for step in pipeline.transforms:
        features = step.transform(features)
    return pipeline.model.predict(features)

def mlayer():
    return mlayer_handler.lambda_handler(event, None)

def with_shadow():
    return mlayer_handler.handle(
        event, pipeline, mlayer_handler.SINK, mlayer_handler.TEXT_FIELD,
        mlayer_handler.TEXT_IS_JSON, shadow=shadow, metrics=mlayer_handler.METRICS,
    )

def seed():
    with contextlib.redirect_stdout(io.StringIO()):  # its "Loaded Model" print
        return lambda_function.lambda_handler(event, None)

timings = {"floor": [], "mlayer": [], "seed": [], "live_only": [], "shadow": []}
# The shadow's rounds come after, so that its second model does not touch the first
# comparison; its own pairs the live-only handler with the shadow mode, interleaved.
rounds = (
    (("floor", floor), ("mlayer", mlayer), ("seed", seed)),
    (("live_only", mlayer), ("shadow", with_shadow)),
)
for calls_by_name in rounds:
    for i in range(int(calls) + 2):
        for name, call in calls_by_name:
            started = time.perf_counter()
            call()
            if i >= 2:  # the first two are warm-up
                timings[name].append((time.perf_counter() - started) * 1000)
# The handler answers what the bare pipeline answers, record for record.
assert [p["prediction"] for p in mlayer()["predictions"]] == floor().tolist()
assert with_shadow() == mlayer()  # the shadow changes nothing the handler returns
print(json.dumps(timings))
"""


def measure(
    python: Path,
    work: Path,
    model: list[Path],
    shadow: list[Path],
    name: str,
    calls: int,
    batch: int,
) -> dict[str, list[float]]:
    opt = work / name / "opt"
    shutil.copytree(work / "deps", opt)
    live_zip = c.mlayer_model_zip(model, name)
    shadow_zip = c.mlayer_model_zip(shadow, f"{name}-shadow")
    c.extract(live_zip, opt)
    c.extract(shadow_zip, opt)
    seed_model = c.seed_model_dir(model, work / name / "seed-opt")
    seed_task = c.write_seed_handler(work / name / "seed-task")
    event = work / name / "event.json"
    event.write_text(json.dumps(c.seed_event(batch)))
    out = subprocess.run(
        [str(python), "-I", "-S", "-B", "-c", DRIVER, str(c.HANDLER_DIR), str(seed_task),
         str(opt / "python"), str(event), str(calls), layer_model(shadow_zip).content_id],
        env={
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "MLAYER_MODEL_DIR": str(opt / "mlayer-model"),
            "MLAYER_MODEL_SHA256": layer_model(live_zip).content_id,
            "MLAYER_TEXT_IS_JSON": "1",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",  # as in Lambda: the handler writes metrics
            "SEED_OPT": str(seed_model),
        },
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    result: dict[str, list[float]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    python = c.interpreter()
    work = c.WORK / "warm"
    shutil.rmtree(work, ignore_errors=True)
    c.extract(c.mlayer_deps_zip(args.rebuild), work / "deps")
    large = c.large_model()
    # (live, shadow): the example's shadow is its v2; the large model shadows itself.
    models = {"example": (c.example_model(1), c.example_model(2)), "large": (large, large)}
    rows, ratios, shadow_costs = [], {}, {}
    for name, (model, shadow) in models.items():
        c.log(f"{name} model: {args.calls} calls of each, {args.batch} records")
        timings = measure(python, work, model, shadow, name, args.calls, args.batch)
        floor = c.median(timings["floor"])
        ratios[name] = c.median(timings["mlayer"]) / floor
        live_ms, shadow_ms = c.median(timings["live_only"]), c.median(timings["shadow"])
        shadow_costs[name] = (shadow_ms - live_ms, shadow_ms / live_ms)
        size = c.human_bytes(c.model_bytes(model))
        for kind, label in (
            ("floor", "floor: decode + predict()"),
            ("mlayer", "mlayer handler"),
            ("seed", "seed handler (loads per call)"),
            ("live_only", "mlayer handler (shadow rounds)"),
            ("shadow", "mlayer handler + shadow model"),
        ):
            ms = c.median(timings[kind])
            rows.append(
                [
                    name,
                    size,
                    label,
                    f"{ms:.1f}",
                    f"{ms / args.batch * 1000:.0f}",
                    f"{ms / floor:.2f}x",
                ]
            )
    print(
        f"Warm invocations, {args.batch}-record batches, one python3.11 -I -S -B process on "
        f"mlayer's layer; median of {args.calls} interleaved calls"
    )
    print()
    c.print_table(
        ["model", "joblib", "handler", "ms per invocation", "µs per record", "vs floor"], rows
    )
    print()
    for name, ratio in ratios.items():
        verdict = "met" if ratio <= 1.25 else "NOT met"
        print(f"target mlayer <= 1.25x floor, {name} model: {verdict} ({ratio:.2f}x)")
    for name, (extra_ms, ratio) in shadow_costs.items():
        print(
            f"shadow mode, {name} model: +{extra_ms:.1f} ms per {args.batch}-record batch, "
            f"{ratio:.2f}x the live-only handler"
        )


if __name__ == "__main__":
    main()
