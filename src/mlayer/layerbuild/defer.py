"""``--defer-imports``: find the modules the sample model never touches, by evidence.

scikit-learn imports modules eagerly that a fitted model may never call
(``scipy.stats`` is a third of its import time). This stage decides which of
them the handler may defer (``handler/mlayer_defer.py``), in the target's
Python, on the built layer (after bytecode, so the times are the layer's):

1. trace: the sample run (import joblib, load the sample model, predict the
   sample event: what the handler does at init) with ``-X importtime``; each
   module the layer provides, with the time its import subtree took;
2. candidates: the heaviest subtrees (``MIN_MS`` or more), none inside another;
3. verify: the sample again with the candidates deferred by the handler's own
   finder. A candidate that run loaded anyway is dropped (its heavy submodules
   become candidates), until a run loads none of them and predicts exactly
   what the undeferred run did. A run that fails or predicts otherwise with
   nothing loaded is settled by trying the candidates one at a time;
4. measure: the sample without and with the deferral, best of ``REPEATS``.

The list goes into the layer (``contract.DEFERRED_FILE`` at the root of
``python/``) and, with the times, into the build manifest. Never calls AWS.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer.contract import DEFER_MODULE, DEFERRED_FILE, DEFERRED_FORMAT
from mlayer.errors import BuildError
from mlayer.layerbuild.verify import ISOLATED, PROBE, Python

MIN_MS = 15.0  # a lighter subtree is not worth a stub
MAX_ROUNDS = 8  # each round drops what the sample used; a real model needs 2 to 4
REPEATS = 3  # the measured saving: best of this many runs each way
PACKAGE = Path(__file__).resolve().parents[1]  # src/mlayer, or site-packages/mlayer

# Runs the _probe.py sample with the handler's finder installed first (stdlib only).
# argv: DIR (holding mlayer_defer.py) NAMES_JSON PROBE SPEC OUT
WRAPPER = """\
import json, runpy, sys, time
here, names, probe, spec, out = sys.argv[1], json.loads(sys.argv[2]), *sys.argv[3:6]
sys.path.insert(0, here)
import mlayer_defer
sys.path.remove(here)
finder = mlayer_defer.install(names) if names else None
sys.argv = [probe, spec]
started = time.perf_counter()
runpy.run_path(probe, run_name="__main__")
seconds = time.perf_counter() - started
with open(out, "w") as handle:
    json.dump({"seconds": seconds, "loaded": sorted(finder.real) if finder else []}, handle)
"""


@dataclass(frozen=True)
class ImportTiming:
    name: str
    self_us: int
    cumulative_us: int


_IMPORT_TIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def parse_importtime(output: str) -> dict[str, ImportTiming]:
    """``python -X importtime``'s lines (among any other output), by module."""
    timings = {}
    for line in output.splitlines():
        match = _IMPORT_TIME.match(line)
        if match:
            own, cumulative, _indent, name = match.groups()
            timings[name] = ImportTiming(name, int(own), int(cumulative))
    return timings


def _inside(name: str, ancestor: str) -> bool:
    return name.startswith(ancestor + ".")


def choose_candidates(
    timings: Mapping[str, ImportTiming],
    layer_modules: Iterable[str],
    rejected: Iterable[str],
    *,
    min_ms: float = MIN_MS,
) -> list[str]:
    """The heaviest import subtrees of the layer's modules, none inside another,
    none the sample was seen to use (``rejected``), heaviest first.

    A rejected module's heavy submodules stay candidates: ``sklearn.metrics`` may be
    needed while the ``scipy.stats`` it imports is not.
    """
    refused = set(rejected)
    ours = set(layer_modules)
    heavy = sorted(
        (t for t in timings.values() if t.name in ours and t.cumulative_us >= min_ms * 1000),
        key=lambda t: (-t.cumulative_us, t.name),
    )
    chosen: list[str] = []
    for timing in heavy:
        name = timing.name
        if name in refused:
            continue
        if any(_inside(name, c) or _inside(c, name) for c in chosen):
            continue
        chosen.append(name)
    return chosen


@dataclass(frozen=True)
class SampleRun:
    predictions: list[Any] | None
    error: str | None
    loaded: frozenset[str]  # deferred modules the run imported anyway
    seconds: float  # import + load + predict, in the child
    output: str = ""
    modules: tuple[str, ...] = ()  # with trace: the layer's modules it loaded


@dataclass(frozen=True)
class DeferredModule:
    name: str
    saved_ms: float  # its import subtree's time in the trace


@dataclass(frozen=True)
class Deferral:
    """What ``find_deferral`` decided: the modules, and the measured sample times."""

    modules: tuple[DeferredModule, ...]
    without_ms: float  # the sample (import + load + predict), best of REPEATS
    with_ms: float
    rounds: int

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.modules]

    @property
    def saved_ms(self) -> float:
        return self.without_ms - self.with_ms

    def layer_file(self) -> dict[str, Any]:
        """``DEFERRED_FILE``: what the handler reads (names) and what invoke --local says."""
        return {
            "format": DEFERRED_FORMAT,
            "modules": [{"name": m.name, "saved_ms": round(m.saved_ms)} for m in self.modules],
            "measured_ms": {"without": round(self.without_ms), "with": round(self.with_ms)},
        }

    def manifest(self) -> dict[str, Any]:
        """The build manifest's ``deferred`` field."""
        return {
            "modules": [{"name": m.name, "saved_ms": round(m.saved_ms, 1)} for m in self.modules],
            "sample_ms": {"without": round(self.without_ms, 1), "with": round(self.with_ms, 1)},
            "saved_ms": round(self.saved_ms, 1),
        }


def deferral_module() -> Path:
    """handler/mlayer_defer.py of the checkout, or the copy inside the installed package."""
    file = f"{DEFER_MODULE}.py"
    for directory in (PACKAGE.parents[1] / "handler", PACKAGE / "_handler"):
        if (directory / file).is_file():
            return directory / file
    raise BuildError(f"cannot find {file}, the handler's deferral: reinstall mlayer")


@dataclass(frozen=True)
class Sample:
    """The sample the layer is judged by: models in pipeline order and an event."""

    models: tuple[Path, ...]
    event: Path
    text_field: str
    text_is_json: bool


def run_sample(
    python: Python,
    site: Path,
    sample: Sample,
    deferred: Sequence[str] = (),
    *,
    importtime: bool = False,
    timeout: float = 600,
) -> SampleRun:
    """Load and predict the sample with only ``site`` on the path, ``deferred`` deferred."""
    with tempfile.TemporaryDirectory(prefix="mlayer-defer-", dir=site.resolve().parent) as tmp:
        here = Path(tmp)
        shutil.copyfile(deferral_module(), here / f"{DEFER_MODULE}.py")
        (here / "wrapper.py").write_text(WRAPPER)
        spec_path, result_path, extra_path = here / "spec.json", here / "r.json", here / "x.json"
        spec = {
            "site": str(site.resolve()),
            "imports": [],  # as the handler: joblib.load imports what the model needs
            "models": [str(p.resolve()) for p in sample.models],
            "event": str(sample.event.resolve()),
            "text_field": sample.text_field,
            "text_is_json": sample.text_is_json,
            "trace": importtime,
            "out": str(result_path),
        }
        spec_path.write_text(json.dumps(spec))
        flags = ["-X", "importtime"] if importtime else []
        arguments = [str(here / "wrapper.py"), str(here), json.dumps(list(deferred))]
        arguments += [str(PROBE), str(spec_path), str(extra_path)]
        code, output = python.run([*ISOLATED, *flags, *arguments], timeout=timeout)
        if code != 0 or not result_path.is_file() or not extra_path.is_file():
            last = output.strip().splitlines()[-1] if output.strip() else f"exit code {code}"
            raise BuildError(f"the layer's interpreter ({python.description}) crashed: {last}")
        result = json.loads(result_path.read_text())
        extra = json.loads(extra_path.read_text())
    return SampleRun(
        predictions=result["predictions"],
        error=result["error"],
        loaded=frozenset(extra["loaded"]),
        seconds=extra["seconds"],
        output=output,
        modules=tuple(result.get("modules", ())),
    )


def find_deferral(
    python: Python,
    site: Path,
    sample: Sample,
    *,
    on_detail: Callable[[str], None] = lambda _: None,
    min_ms: float = MIN_MS,
    repeats: int = REPEATS,
) -> Deferral:
    """Trace, choose, verify and measure (see the module's docstring)."""
    trace = run_sample(python, site, sample, importtime=True)
    if trace.error or trace.predictions is None:
        raise BuildError(
            f"the sample model failed on the layer: {trace.error} "
            "(check --sample-model order, --sample-event, --text-field)"
        )
    reference = trace.predictions
    timings = parse_importtime(trace.output)
    rejected: set[str] = set()
    chosen = choose_candidates(timings, trace.modules, rejected, min_ms=min_ms)
    rounds = 0
    while chosen and rounds < MAX_ROUNDS:
        rounds += 1
        run = run_sample(python, site, sample, chosen)
        same = run.error is None and run.predictions == reference
        outcome = "" if same else f", then failed: {run.error or 'other predictions'}"
        on_detail(
            f"round {rounds}: deferring {len(chosen)}, the sample used {len(run.loaded)}{outcome}"
        )
        if run.loaded:
            rejected |= run.loaded
            chosen = choose_candidates(timings, trace.modules, rejected, min_ms=min_ms)
            continue
        if not same:
            chosen = _one_at_a_time(python, site, sample, chosen, reference, on_detail)
            break
        break
    else:
        if chosen:  # MAX_ROUNDS did not settle it: defer nothing rather than guess
            on_detail(f"no settled list after {MAX_ROUNDS} rounds: nothing deferred")
            chosen = []
    if chosen:
        final = run_sample(python, site, sample, chosen)
        if final.loaded or final.error or final.predictions != reference:
            raise BuildError(
                "verification failed: the sample predicted differently (or used a deferred "
                f"module) with {', '.join(chosen)} deferred; build without --defer-imports"
            )
    without, with_ = _measure(python, site, sample, chosen, repeats)
    modules = tuple(DeferredModule(n, timings[n].cumulative_us / 1000) for n in chosen)
    return Deferral(modules, without, with_, rounds)


def _one_at_a_time(
    python: Python,
    site: Path,
    sample: Sample,
    candidates: Sequence[str],
    reference: list[Any],
    on_detail: Callable[[str], None],
) -> list[str]:
    """Keep each candidate whose addition leaves the sample's predictions and its
    deferred modules untouched."""
    kept: list[str] = []
    for name in candidates:
        run = run_sample(python, site, sample, [*kept, name])
        if not run.loaded and run.error is None and run.predictions == reference:
            kept.append(name)
        else:
            on_detail(f"  {name}: not deferred (the sample needs it)")
    return kept


def _measure(
    python: Python, site: Path, sample: Sample, deferred: Sequence[str], repeats: int
) -> tuple[float, float]:
    """The sample's time (ms) without and with the deferral, runs alternated, best of each."""
    if not deferred:
        return 0.0, 0.0
    without, with_ = [], []
    for _ in range(repeats):
        without.append(run_sample(python, site, sample).seconds * 1000)
        with_.append(run_sample(python, site, sample, deferred).seconds * 1000)
    return min(without), min(with_)


def write_layer_file(site: Path, deferral: Deferral) -> Path:
    """``DEFERRED_FILE`` at the root of the layer's python/, where the handler finds it."""
    path = site / DEFERRED_FILE
    path.write_text(json.dumps(deferral.layer_file(), indent=1, sort_keys=True) + "\n")
    return path


def read_layer_file(text: str) -> dict[str, Any] | None:
    """A ``DEFERRED_FILE``'s content, or None when it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("format") == DEFERRED_FORMAT else None
