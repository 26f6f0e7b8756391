"""Cold start: import + model load + first prediction in a fresh interpreter.

Each run is a new ``python3.X -I -S -B`` (isolated, no site-packages, no
bytecode written: Lambda's /opt is read-only) with a layer directory on its
path, as Lambda runs the runtime. Compared in the same run, for the example
model and the large one:

- the seed: its handler (loads the three joblib files inside the call) on a
  naive layer (``pip install --target --no-compile``: no bytecode);
- mlayer: its handler (loads once, at import) on the layer ``mlayer
  build-deps`` builds (slimmed, with unchecked-hash bytecode);
- mlayer deferred: the same, with the modules ``build-deps --defer-imports``
  found the example model never touches deferred (the layer is built once with
  the flag; the plain configuration runs it with its list moved off the path,
  so the two differ only by the deferral);
- and, for the example, the two crossings: what the layer and the handler each bring.

"cold" is the child's import + first call; "spawn → prediction" adds the
interpreter's start (from just before the spawn to the first result: what a
cold start waits for; the process's exit after it is not).

    .venv/bin/python benchmarks/bench_cold.py [--rounds 5] [--batch 100] [--rebuild]
        [--runtime python3.13] [--no-large]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as c

from mlayer.contract import DEFERRED_FILE

DRIVER = """
import json, sys, time
task, python_dir, event_path, module, *extra = sys.argv[1:]
sys.path[:0] = [task, python_dir, *extra]
started = time.perf_counter()
handler = __import__(module).lambda_handler
imported = time.perf_counter()
with open(event_path) as handle:
    event = json.load(handle)
result = handler(event, None)
done = time.perf_counter()
done_ns = time.time_ns()
import base64, hashlib, sklearn
if "predictions" in result:  # mlayer's handler: in record order
    labels = [p["prediction"] for p in result["predictions"]]
else:  # the seed's: keyed by text
    texts = [json.loads(json.loads(base64.b64decode(r["kinesis"]["data"]))["textblob"])
             for r in event["Records"]]
    labels = [result[t] for t in texts]
print(json.dumps({
    "predictions": hashlib.sha256(json.dumps(labels).encode()).hexdigest(),
    "done_ns": done_ns,
    "init_ms": (imported - started) * 1000,
    "first_call_ms": (done - imported) * 1000,
    "sklearn_from": sklearn.__file__,
    "modules": len(sys.modules),
}))
"""


@dataclass(frozen=True)
class Config:
    task: Path
    python_dir: Path
    module: str
    env: dict[str, str]
    extra_path: tuple[Path, ...] = ()  # the deferral's list, for the deferred configuration


def run_once(python: Path, config: Config, event: Path) -> dict[str, Any]:
    task, python_dir, module, env = config.task, config.python_dir, config.module, config.env
    started = time.perf_counter()
    spawned_ns = time.time_ns()
    out = subprocess.run(
        [str(python), "-I", "-S", "-B", "-c", DRIVER, str(task), str(python_dir), str(event),
         module, *map(str, config.extra_path)],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **env},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = (time.perf_counter() - started) * 1000
    if out.returncode != 0:
        raise SystemExit(f"{module} failed:\n{out.stderr}")
    record: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if not record["sklearn_from"].startswith(str(python_dir)):
        raise SystemExit(f"scikit-learn came from {record['sklearn_from']}, not the layer")
    record["wall_ms"] = wall
    record["spawn_to_prediction_ms"] = (record.pop("done_ns") - spawned_ns) / 1e6
    return record


SEED, MLAYER, DEFERRED = (
    "seed handler, naive layer",
    "mlayer handler, mlayer layer",
    ("mlayer handler, mlayer layer, deferred"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100, help="records in the first event")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the layers")
    parser.add_argument("--no-large", action="store_true", help="the example model only")
    c.add_runtime_option(parser)
    args = parser.parse_args()

    target = c.target_of(args.runtime)
    python = c.interpreter(target)
    work = c.work_dir(target) / "cold"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    example = c.example_model(1, target)
    models = {
        "example": example,
        **({} if args.no_large else {"large": c.large_model(target=target)}),
    }
    event = work / "event.json"
    event.write_text(json.dumps(c.seed_event(args.batch)))
    sample = work / "sample-texts.json"  # what --defer-imports runs the example model on
    sample.write_text(json.dumps(c.texts(20)))

    naive = c.naive_deps_dir(args.rebuild, target)
    for cache in list(naive.rglob("__pycache__")):  # the seed's layer has none
        shutil.rmtree(cache)
    deps_zip = c.mlayer_deps_zip(args.rebuild, target, defer_sample=[*example, sample])
    mlayer_opt = c.extract(deps_zip, work / "mlayer-opt")
    listed = mlayer_opt / "python" / DEFERRED_FILE
    if not listed.is_file():
        raise SystemExit(f"{deps_zip} defers nothing: no {DEFERRED_FILE} in it")
    defer_list = work / "defer-list"
    defer_list.mkdir()
    listed.rename(defer_list / DEFERRED_FILE)  # the plain configuration runs without it
    deferred = json.loads((defer_list / DEFERRED_FILE).read_text())
    seed_task = c.write_seed_handler(work / "seed-task")

    configs: dict[tuple[str, str], Config] = {}
    for name, paths in models.items():
        zip_path = c.mlayer_model_zip(paths, f"{name}-v1", target)
        model_opt = c.extract(zip_path, work / f"{name}-model-opt")
        seed_model = c.seed_model_dir(paths, work / f"{name}-seed-opt")
        seed_env = {"SEED_OPT": str(seed_model)}
        mlayer_env = {
            "MLAYER_MODEL_DIR": str(model_opt / "mlayer-model"),
            "MLAYER_TEXT_IS_JSON": "1",
        }
        mlayer_layer = mlayer_opt / "python"
        configs[name, SEED] = Config(seed_task, naive / "python", "lambda_function", seed_env)
        configs[name, MLAYER] = Config(c.HANDLER_DIR, mlayer_layer, "mlayer_handler", mlayer_env)
        configs[name, DEFERRED] = Config(
            c.HANDLER_DIR, mlayer_layer, "mlayer_handler", mlayer_env, (defer_list,)
        )
        if name == "example":
            configs[name, "seed handler, mlayer layer"] = Config(
                seed_task, mlayer_layer, "lambda_function", seed_env
            )
            configs[name, "mlayer handler, naive layer"] = Config(
                c.HANDLER_DIR, naive / "python", "mlayer_handler", mlayer_env
            )
    c.log(f"interpreter {python}; {args.rounds} rounds of {len(configs)} configurations")
    for config in configs.values():
        run_once(python, config, event)  # page cache warm for all alike
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in configs}
    for round_number in range(args.rounds):
        for key, config in configs.items():
            samples[key].append(run_once(python, config, event))
        c.log(f"round {round_number + 1}/{args.rounds} done")

    for model in models:
        runs = [s for key, model_runs in samples.items() if key[0] == model for s in model_runs]
        digests = {s["predictions"] for s in runs}
        if len(digests) != 1:
            raise SystemExit(f"{model}: the configurations predict differently")

    def med(key: tuple[str, str], field: str) -> float:
        return c.median([s[field] for s in samples[key]])

    def cold(key: tuple[str, str]) -> float:
        return med(key, "init_ms") + med(key, "first_call_ms")

    rows = []
    for key in configs:
        model, name = key
        base = (model, SEED)
        rows.append(
            [
                model,
                name,
                f"{med(key, 'init_ms'):.0f}",
                f"{med(key, 'first_call_ms'):.0f}",
                f"{cold(key):.0f}",
                f"{cold(key) / cold(base):.2f}x",
                f"{med(key, 'spawn_to_prediction_ms'):.0f}",
                f"{med(key, 'spawn_to_prediction_ms') / med(base, 'spawn_to_prediction_ms'):.2f}x",
                f"{med(key, 'wall_ms'):.0f}",
                f"{int(med(key, 'modules'))}",
            ]
        )
    print(
        f"Cold start, {target.runtime} -I -S -B, first event of {args.batch} records; "
        + ", ".join(
            f"{n} model {c.model_bytes(p) / 1e3:,.0f} kB of joblib" for n, p in models.items()
        )
        + f"; median of {args.rounds} runs; {os.cpu_count()} CPUs"
    )
    print()
    c.print_table(
        ["model", "configuration", "import ms", "first call ms", "cold ms", "vs seed",
         "spawn -> prediction ms", "vs seed", "process wall ms", "modules"],
        rows,
    )  # fmt: skip
    print()
    print(
        "deferred by build-deps --defer-imports (import ms in its trace): "
        + ", ".join(f"{m['name']} ({m['saved_ms']})" for m in deferred["modules"])
    )
    print(
        f"naive layer: {c.tree_bytes(naive / 'python') / 1e6:.0f} MB unzipped, "
        f"mlayer layer: {c.tree_bytes(mlayer_opt / 'python') / 1e6:.0f} MB unzipped"
    )
    print("predictions: identical in every configuration and run, per model")
    goal = 0.25 if target.python_version >= (3, 13) else 0.27  # issue 14, the example model
    for model in models:
        ratio = med((model, DEFERRED), "spawn_to_prediction_ms") / med(
            (model, SEED), "spawn_to_prediction_ms"
        )
        plain = med((model, MLAYER), "spawn_to_prediction_ms") / med(
            (model, SEED), "spawn_to_prediction_ms"
        )
        verdict = f" (target <= {goal}x: {'met' if ratio <= goal else 'NOT met'})"
        print(
            f"{model}: spawn -> prediction vs naive: deferred {ratio:.2f}x"
            + (verdict if model == "example" else "")
            + f", without deferral {plain:.2f}x"
        )
    c.dump_json(
        c.work_dir(target) / "results" / "cold.json",
        {" / ".join(key): runs for key, runs in samples.items()},
    )


if __name__ == "__main__":
    main()
