"""Cold start: import + model load + first prediction in a fresh interpreter.

Each run is a new ``python3.11 -I -S -B`` (isolated, no site-packages, no
bytecode written: Lambda's /opt is read-only) with a layer directory on its
path, as Lambda runs the python3.11 runtime. Compared in the same run:

- the seed: its handler (loads the three joblib files inside the call) on a
  naive layer (``pip install --target --no-compile``: no bytecode);
- mlayer: its handler (loads once, at import) on the layer ``mlayer
  build-deps`` builds (slimmed, with unchecked-hash bytecode);
- and the two crossings, to show what the layer and the handler each bring.

    .venv/bin/python benchmarks/bench_cold.py [--rounds 5] [--batch 100] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import _common as c

DRIVER = """
import json, sys, time
task, python_dir, event_path, module = sys.argv[1:5]
sys.path[:0] = [task, python_dir]
started = time.perf_counter()
handler = __import__(module).lambda_handler
imported = time.perf_counter()
with open(event_path) as handle:
    event = json.load(handle)
result = handler(event, None)
done = time.perf_counter()
import sklearn
print(json.dumps({
    "init_ms": (imported - started) * 1000,
    "first_call_ms": (done - imported) * 1000,
    "sklearn_from": sklearn.__file__,
    "modules": len(sys.modules),
}))
"""


def run_once(
    python: Path, task: Path, python_dir: Path, event: Path, module: str, env: dict[str, str]
) -> dict[str, float]:
    started = time.perf_counter()
    out = subprocess.run(
        [str(python), "-I", "-S", "-B", "-c", DRIVER, str(task), str(python_dir), str(event),
         module],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **env},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = (time.perf_counter() - started) * 1000
    if out.returncode != 0:
        raise SystemExit(f"{module} failed:\n{out.stderr}")
    record = json.loads(out.stdout.strip().splitlines()[-1])
    if not record["sklearn_from"].startswith(str(python_dir)):
        raise SystemExit(f"scikit-learn came from {record['sklearn_from']}, not the layer")
    record["wall_ms"] = wall
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100, help="records in the first event")
    parser.add_argument("--rebuild", action="store_true", help="rebuild both layers")
    c.add_runtime_option(parser)
    args = parser.parse_args()

    target = c.target_of(args.runtime)
    python = c.interpreter(target)
    work = c.work_dir(target) / "cold"
    shutil.rmtree(work, ignore_errors=True)
    model = c.example_model(1, target)

    naive = c.naive_deps_dir(args.rebuild, target)
    for cache in list(naive.rglob("__pycache__")):  # the seed's layer has none
        shutil.rmtree(cache)
    mlayer_opt = c.extract(c.mlayer_deps_zip(args.rebuild, target), work / "mlayer-opt")
    c.extract(c.mlayer_model_zip(model, "v1"), mlayer_opt)
    seed_model = c.seed_model_dir(model, work / "seed-opt")
    seed_task = c.write_seed_handler(work / "seed-task")
    event = work / "event.json"
    event.write_text(json.dumps(c.seed_event(args.batch)))

    seed_env = {"SEED_OPT": str(seed_model)}
    mlayer_env = {"MLAYER_MODEL_DIR": str(mlayer_opt / "mlayer-model"), "MLAYER_TEXT_IS_JSON": "1"}
    if target != c.TARGET:
        # The model was trained by the target's Python, but this process (python3.11)
        # packaged it, so its manifest records 3.11's Python and numpy: allow that.
        mlayer_env["MLAYER_ALLOW_VERSION_MISMATCH"] = "packaged by the benchmark's python3.11"
    configs = {
        "seed handler, naive layer": (seed_task, naive / "python", "lambda_function", seed_env),
        "mlayer handler, mlayer layer": (
            c.HANDLER_DIR, mlayer_opt / "python", "mlayer_handler", mlayer_env
        ),
        "seed handler, mlayer layer": (
            seed_task, mlayer_opt / "python", "lambda_function", seed_env
        ),
        "mlayer handler, naive layer": (
            c.HANDLER_DIR, naive / "python", "mlayer_handler",
            {**mlayer_env, "MLAYER_MODEL_DIR": str(mlayer_opt / "mlayer-model")},
        ),
    }  # fmt: skip
    c.log(f"interpreter {python}; {args.rounds} rounds of {len(configs)} configurations")
    for task, python_dir, module, env in configs.values():
        run_once(python, task, python_dir, event, module, env)  # page cache warm for all alike
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    for round_number in range(args.rounds):
        for name, (task, python_dir, module, env) in configs.items():
            samples[name].append(run_once(python, task, python_dir, event, module, env))
        c.log(f"round {round_number + 1}/{args.rounds} done")

    def med(name: str, key: str) -> float:
        return c.median([s[key] for s in samples[name]])

    base = med("seed handler, naive layer", "init_ms") + med(
        "seed handler, naive layer", "first_call_ms"
    )
    rows = []
    for name in configs:
        cold = med(name, "init_ms") + med(name, "first_call_ms")
        rows.append(
            [
                name,
                f"{med(name, 'init_ms'):.0f}",
                f"{med(name, 'first_call_ms'):.0f}",
                f"{cold:.0f}",
                f"{med(name, 'wall_ms'):.0f}",
                f"{cold / base:.2f}x",
            ]
        )
    layer_sizes = {
        "naive layer": c.tree_bytes(naive / "python"),
        "mlayer layer": c.tree_bytes(mlayer_opt / "python"),
    }
    print(
        f"Cold start, {target.runtime} -I -S -B, first event of {args.batch} records, "
        "example model "
        f"({c.model_bytes(model) / 1e3:.0f} kB of joblib); median of {args.rounds} runs; "
        f"{os.cpu_count()} CPUs"
    )
    print()
    c.print_table(
        ["configuration", "import ms", "first call ms", "cold ms", "process wall ms", "vs seed"],
        rows,
    )
    print()
    print(", ".join(f"{name}: {size / 1e6:.0f} MB unzipped" for name, size in layer_sizes.items()))
    mlayer_ratio = (
        med("mlayer handler, mlayer layer", "init_ms")
        + med("mlayer handler, mlayer layer", "first_call_ms")
    ) / base
    print(f"target <= 0.35x: {'met' if mlayer_ratio <= 0.35 else 'NOT met'} ({mlayer_ratio:.2f}x)")
    c.dump_json(c.WORK / "results" / "cold.json", samples)


if __name__ == "__main__":
    main()
