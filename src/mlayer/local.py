"""``mlayer invoke --local``: run the handler as Lambda would, on this machine.

The layer zips are extracted into an /opt-like directory made read-only, the
function code into its own task directory, and a fresh interpreter of the
runtime's Python version runs the handler with ``-I -S -B``: the host's
site-packages are invisible, so an import that works here works on Lambda.
Only boto3 (and what it needs) is put back, after the layers, because Lambda's
Python runtimes ship it in /var/runtime.
"""

from __future__ import annotations

import base64
import glob
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlayer import cost
from mlayer.contract import DEFAULT_TEXT_FIELD, LOCAL_TIMEOUT_ENV, MODEL_DIR, MODEL_DIR_ENV
from mlayer.errors import MlayerError, UsageError
from mlayer.layerbuild.archive import safe_extract
from mlayer.targets import Target

RUNTIME_SCRIPT = Path(__file__).with_name("_lambda_runtime.py")

# What Lambda's Python runtimes provide in /var/runtime besides the runtime itself.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")

# The largest batch a Kinesis trigger delivers.
MAX_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class Invocation:
    """What the child interpreter measured: the init, then each invocation."""

    results: list[Any]  # the return value of each event's first invocation
    init_ms: float
    runs: list[dict[str, float]] = field(default_factory=list)

    @property
    def result(self) -> Any:
        """The handler's return value; a list of them when the texts made several batches."""
        return self.results[0] if len(self.results) == 1 else self.results

    @property
    def report(self) -> dict[str, float]:
        first = self.runs[0]
        return {
            "init_ms": round(self.init_ms, 2),
            "duration_ms": first["duration_ms"],
            "billed_ms": first["billed_ms"],
            "max_memory_mb": first["max_memory_mb"],
        }

    @property
    def repeats(self) -> list[dict[str, float]]:
        """The warm invocations after the first, each as Lambda would bill it."""
        return [
            {"duration_ms": run["duration_ms"], "billed_ms": run["billed_ms"]}
            for run in self.runs[1:]
        ]

    def report_lines(self, memory_mb: int) -> list[str]:
        """One REPORT line per invocation, as Lambda logs them; only the first has an init."""
        lines = []
        for index, run in enumerate(self.runs):
            line = (
                f"REPORT Duration: {run['duration_ms']:.2f} ms\tBilled Duration: "
                f"{run['billed_ms']:.0f} ms\tMemory Size: {memory_mb} MB\t"
                f"Max Memory Used: {run['max_memory_mb']:.0f} MB"
            )
            if index == 0:
                line += f"\tInit Duration: {self.init_ms:.2f} ms"
            lines.append(line)
        return lines


def billed_ms(duration_ms: float, init_ms: float | None = None) -> int:
    """Lambda's billed duration: whole milliseconds, rounded up (cost's rule at
    today's 1 ms step).

    Since 1 August 2025 Lambda also bills the init phase of on-demand ZIP
    functions on managed runtimes, so a cold invocation bills init + duration.
    """
    return cost.billed_ms(duration_ms + (init_ms or 0.0), granularity_ms=1)


# --- the interpreter --------------------------------------------------------------


def find_interpreter(target: Target) -> Path:
    """An interpreter of the runtime's Python version; never a different one.

    Looked for as ``pythonX.Y`` on PATH, then under ``$PYENV_ROOT/versions``.
    """
    wanted = target.python_dotted
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates: list[str | None] = []
    if ".".join(map(str, sys.version_info[:2])) == wanted:
        # The base interpreter, not a virtualenv's: -S hides site-packages anyway.
        candidates.append(getattr(sys, "_base_executable", sys.executable))
    candidates.append(shutil.which(f"python{wanted}"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{wanted}.*/bin/python{wanted}"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and _version_of(candidate) == wanted:
            return Path(candidate)
    raise MlayerError(
        f"no Python {wanted} interpreter for {target.runtime}: looked for python{wanted} on "
        f"PATH and in {pyenv_root}/versions/{wanted}.*; install Python {wanted} "
        f"(e.g. pyenv install {wanted}) to invoke locally"
    )


def _version_of(executable: str) -> str:
    try:
        out = subprocess.run(
            [executable, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return ""
    return out.stdout.strip()


# --- events -----------------------------------------------------------------------


def read_event(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"event file {path} does not exist")
    try:
        event = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"event file {path} is not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise UsageError(f"event file {path} holds a JSON {type(event).__name__}, not an object")
    return event


def read_texts(path: Path) -> list[str]:
    """The non-blank lines of a texts file, one record each."""
    if not path.is_file():
        raise UsageError(f"texts file {path} does not exist")
    try:
        lines = [line.strip() for line in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"texts file {path} cannot be read as text: {exc}") from exc
    texts = [line for line in lines if line]
    if not texts:
        raise UsageError(f"texts file {path} is empty: put one text per line")
    return texts


def kinesis_events(
    texts: list[str],
    *,
    batch_size: int,
    text_field: str = DEFAULT_TEXT_FIELD,
    text_is_json: bool = False,
    stream_arn: str = "arn:aws:kinesis:us-east-1:000000000000:stream/local",
) -> list[dict[str, Any]]:
    """Kinesis events as a trigger delivers them, ``batch_size`` records each.

    Each record's data is base64 of ``{text_field: text}``; with
    ``text_is_json`` the text is JSON-encoded first, as the seed's data is.
    """
    check_batch_size(batch_size)
    records = []
    for sequence, text in enumerate(texts):
        value = json.dumps(text) if text_is_json else text
        data = json.dumps({text_field: value}).encode()
        number = f"4959{sequence:052d}"
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "local",
                    "sequenceNumber": number,
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": 1545084650.987,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{number}",
                "eventName": "aws:kinesis:record",
                "awsRegion": stream_arn.split(":")[3],
                "eventSourceARN": stream_arn,
            }
        )
    return [
        {"Records": records[start : start + batch_size]}
        for start in range(0, len(records), batch_size)
    ]


def read_events(
    *,
    event: str | None,
    texts: str | None,
    batch_size: int | None,
    default_batch_size: int,
    text_field: str,
    text_is_json: bool,
) -> list[dict[str, Any]]:
    """The events to invoke with: the --event file, or --texts split into batches."""
    if (event is None) == (texts is None):
        raise UsageError("give either --event EVENT.json or --texts FILE (one text per line)")
    if event is not None:
        if batch_size is not None:
            raise UsageError("--batch-size splits --texts; an --event file is sent as it is")
        return [read_event(Path(event))]
    size = default_batch_size if batch_size is None else batch_size
    check_batch_size(size)
    return kinesis_events(
        read_texts(Path(str(texts))),
        batch_size=size,
        text_field=text_field,
        text_is_json=text_is_json,
    )


def check_batch_size(batch_size: int) -> None:
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise UsageError(
            f"--batch-size must be between 1 and {MAX_BATCH_SIZE} (a Kinesis trigger's "
            f"limit), got {batch_size}"
        )


# --- the sandbox ------------------------------------------------------------------


def _make_read_only(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        Path(dirpath).chmod(0o555)


def _make_writable(root: Path) -> None:
    for dirpath, _dirs, _files in os.walk(root):
        Path(dirpath).chmod(0o755)


def _runtime_dir(root: Path) -> Path:
    """A /var/runtime stand-in holding links to this host's boto3 and its dependencies."""
    runtime = root / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        if spec.submodule_search_locations:
            source = Path(next(iter(spec.submodule_search_locations)))
        elif spec.origin:
            source = Path(spec.origin)
        else:
            continue
        (runtime / source.name).symlink_to(source)
    return runtime


def lambda_environment(
    *,
    target: Target,
    interpreter: Path,
    task: Path,
    opt: Path,
    runtime: Path,
    handler: str,
    function_name: str,
    memory_mb: int,
    timeout_s: int,
    region: str,
    extra: dict[str, str],
) -> dict[str, str]:
    """The variables Lambda sets for a Python function, with local paths for its dirs."""
    paths = [str(interpreter.parent), "/usr/local/bin", "/usr/bin", "/bin", f"{opt}/bin"]
    return {
        "PATH": ":".join(paths),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task),
        "LAMBDA_RUNTIME_DIR": str(runtime),
        "_HANDLER": handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{target.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local/[$LATEST]local",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LD_LIBRARY_PATH": f"{task}/lib:{opt}/lib:{opt}/python/lib",
        # Ignored under -I; set because Lambda sets it and handlers may read it.
        "PYTHONPATH": f"{opt}/python:{runtime}",
        LOCAL_TIMEOUT_ENV: str(timeout_s),
        MODEL_DIR_ENV: str(opt / MODEL_DIR),
        **extra,
    }


def invoke_local(
    *,
    target: Target,
    events: list[dict[str, Any]],
    layer_zips: list[Path],
    function_zip: Path,
    handler: str,
    environment: dict[str, str],
    memory_mb: int,
    timeout_s: int,
    repeat: int = 1,
    function_name: str = "local",
    region: str = "us-east-1",
    on_log: Callable[[str], None] | None = None,
) -> Invocation:
    """Run ``handler`` on each event in one fresh interpreter with the layers under an /opt.

    The events run in order, ``repeat`` times over: the first invocation is
    the cold one, every later one is warm.
    """
    if not events:
        raise UsageError("no event to invoke the handler with")
    if repeat < 1:
        raise UsageError(f"--repeat must be at least 1, got {repeat}")
    for path in [*layer_zips, function_zip]:
        if not path.is_file():
            raise UsageError(f"layer zip {path} does not exist: build or publish it first")
    interpreter = find_interpreter(target)

    with tempfile.TemporaryDirectory(prefix="mlayer-invoke-") as tmp:
        root = Path(tmp)
        opt, task = root / "opt", root / "task"
        for layer in layer_zips:  # later layers overwrite earlier ones, as in Lambda
            safe_extract(layer, opt)
        opt.mkdir(exist_ok=True)
        safe_extract(function_zip, task)
        runtime = _runtime_dir(root)
        _make_read_only(opt)
        _make_read_only(task)
        events_path, out = root / "events.json", root / "result.json"
        events_path.write_text(json.dumps(events))
        env = lambda_environment(
            target=target,
            interpreter=interpreter,
            task=task,
            opt=opt,
            runtime=runtime,
            handler=handler,
            function_name=function_name,
            memory_mb=memory_mb,
            timeout_s=timeout_s,
            region=region,
            extra=environment,
        )
        command = [
            str(interpreter),
            "-I",
            "-S",
            "-B",
            str(RUNTIME_SCRIPT),
            str(task),
            str(opt),
            str(events_path),
            str(out),
            str(repeat),
        ]
        try:
            completed = subprocess.run(
                command,
                env=env,
                cwd=task,
                capture_output=True,
                text=True,
                timeout=timeout_s * repeat * len(events) + 120,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise MlayerError(f"the handler ran past {exc.timeout:.0f} s and was stopped") from exc
        finally:
            _make_writable(root)
        if on_log and completed.stdout:
            on_log(completed.stdout.rstrip())
        if not out.is_file():
            last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise MlayerError(f"the handler's interpreter crashed: {last}")
        record = json.loads(out.read_text())
    if "error" in record:
        error = record["error"]
        if on_log:
            on_log(error["traceback"].rstrip())
        raise MlayerError(
            f"handler failed during {error['phase']}: {error['type']}: {error['message']}"
        )
    runs = [
        {**run, "billed_ms": billed_ms(run["duration_ms"], record["init_ms"] if i == 0 else None)}
        for i, run in enumerate(record["runs"])
    ]
    return Invocation(record["results"], record["init_ms"], runs)
