"""Every option of the command line, defined once, with its type, range and help.

A decorator per option (or per group of options that go together); ``cli``
stacks them on its commands. The types check a flag and its mlayer.toml key
alike: ``command`` makes the file the options' ``default_map``. A help text's
``[default: ...]`` comes from ``Settings`` where the setting has one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import click

from mlayer import validate
from mlayer.alarms import check_topic_arn
from mlayer.command import load_config, remember
from mlayer.cost import DEFAULT_RECORD_BYTES, MAX_RECORD_BYTES
from mlayer.local import MAX_BATCH_SIZE
from mlayer.logsummary import parse_since
from mlayer.settings import (
    DEFAULTS,
    SAFE_BISECT_ON_ERROR,
    SAFE_MAXIMUM_RECORD_AGE,
    SAFE_MAXIMUM_RETRIES,
)
from mlayer.targets import ARCHITECTURES, RUNTIMES

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]


class Checked(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.5
    """A string checked by one of ``mlayer.validate``'s rules, for a flag and its
    mlayer.toml key alike."""

    def __init__(self, name: str, check: Callable[[str], str]) -> None:
        self.name = name
        self._check = check

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return self._check(str(value))
        except ValueError as exc:
            self.fail(f"{value!r} {exc}", param, ctx)


class RecordAge(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.5
    """Lambda's MaximumRecordAgeInSeconds: -1 (until the record expires) or 60..604800."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        age: int = click.INT.convert(value, param, ctx)
        if age != -1 and not 60 <= age <= 604_800:
            self.fail(f"{age} is not -1 (until the record expires) or in 60..604800", param, ctx)
        return age


FUNCTION_NAME = Checked("function name", validate.check_function_name)
LAYER_NAME = Checked("layer name", validate.check_layer_name)
REGION = Checked("region", validate.check_region)
ENDPOINT_URL = Checked("URL", validate.check_endpoint_url)
BUCKET = Checked("bucket", validate.check_bucket)
STREAM_ARN = Checked("ARN", validate.check_stream_source)
ROLE_ARN = Checked("ARN", validate.check_role_arn)
DESTINATION_ARN = Checked("ARN", validate.check_destination)
RECORD_AGE = RecordAge()
MEMORY = click.IntRange(128, 10240)  # Lambda's MemorySize
BATCH_SIZE = click.IntRange(1, MAX_BATCH_SIZE)  # a stream trigger's BatchSize
LAYER_VERSION = click.IntRange(1)
ALIAS_NAME = Checked("NAME", validate.check_alias_name)
TOPIC_ARN = Checked("ARN", check_topic_arn)


def _stack(func: F, options: Sequence[Decorator[Any]]) -> F:
    """Applies ``options`` so that --help lists them in this order."""
    for option in reversed(options):
        func = option(func)
    return func


# --- global options ---------------------------------------------------------------


def _global(*names: str, **kwargs: Any) -> Decorator[Any]:
    # The value only goes to the root context; the command function never sees it.
    kwargs.setdefault("callback", remember)
    return click.option(*names, expose_value=False, **kwargs)


_GLOBAL_OPTIONS = [
    _global(
        "--config",
        type=click.Path(dir_okay=False),
        is_eager=True,
        callback=load_config,
        help="Settings file [default: ./mlayer.toml].",
    ),
    _global("--region", type=REGION, help="AWS region [default: from your AWS config]."),
    _global("--profile", help="AWS profile from your AWS config."),
    _global(
        "--endpoint-url",
        type=ENDPOINT_URL,
        envvar="AWS_ENDPOINT_URL",
        show_envvar=True,
        help="Send AWS calls to this endpoint (LocalStack, moto).",
    ),
    _global(
        "--function-name",
        type=FUNCTION_NAME,
        help="The Lambda function; layer names default from it.",
    ),
    _global(
        "--json",
        "json",
        is_flag=True,
        default=None,
        help="Print one JSON object on stdout; messages go to stderr.",
    ),
    _global("--debug", is_flag=True, default=None, help="Show tracebacks."),
]


def global_options(func: F) -> F:
    """--config, --region, --profile, --endpoint-url, --function-name, --json, --debug."""
    return _stack(func, _GLOBAL_OPTIONS)


# --- options several commands share ------------------------------------------------


def dry_run_option(func: F) -> F:
    return click.option(
        "--dry-run", is_flag=True, help="Print the steps that would run; change nothing."
    )(func)


def layer_name_option(kind: str) -> Decorator[Any]:
    return click.option(
        "--layer-name",
        type=LAYER_NAME,
        help=f"Name of the {kind} layer [default: <function-name>-{kind}].",
    )


def bucket_option(func: F) -> F:
    return click.option(
        "--bucket",
        type=BUCKET,
        help="S3 bucket for zips over Lambda's 50 MB direct upload limit.",
    )(func)


def out_option(func: F) -> F:
    return click.option(
        "--out",
        type=click.Path(file_okay=False),
        help=f"Build directory [default: {DEFAULTS.out}].",
    )(func)


def runtime_option(func: F) -> F:
    return click.option(
        "--runtime",
        help=f"Lambda runtime, one of {', '.join(RUNTIMES)} [default: the Python running "
        f"mlayer's, here {DEFAULTS.runtime}].",
    )(func)


def for_model_option(func: F) -> F:
    """--for-model FILE (repeatable): requirements pinned from this environment."""
    return click.option(
        "--for-model",
        "for_model",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="A model file (repeat for each): build the versions installed here of what it "
        "needs, written to <out>/for-model-requirements.txt; instead of -r.",
    )(func)


def alias_option(func: F) -> F:
    """--alias: the alias the trigger targets (deploy, rollback, status, versions, cleanup)."""
    return click.option(
        "--alias",
        type=ALIAS_NAME,
        help="The function alias the trigger targets, moved by deploy and rollback "
        f"[default: {DEFAULTS.alias}].",
    )(func)


def release_options(func: F) -> F:
    """How the published versions start: --snapstart and --provisioned-concurrency (deploy)."""
    return _stack(
        func,
        (
            click.option(
                "--snapstart/--no-snapstart",
                default=None,
                help="SnapStart on published versions (python3.12+): restore an initialised "
                "snapshot instead of importing and loading the model [default: as the "
                "function has it].",
            ),
            provisioned_concurrency_option,
        ),
    )


def provisioned_concurrency_option(func: F) -> F:
    """--provisioned-concurrency: warm environments on the alias (deploy sets, cost prices)."""
    return click.option(
        "--provisioned-concurrency",
        type=click.IntRange(0),
        help="Environments kept initialised on the alias, billed while provisioned "
        "(mlayer cost --provisioned-concurrency N prices them); 0 removes it.",
    )(func)


def allow_deprecated_runtime_option(func: F) -> F:
    """--allow-deprecated-runtime: past AWS's block dates (build-deps, deploy)."""
    return click.option(
        "--allow-deprecated-runtime",
        is_flag=True,
        default=None,
        help="Go ahead with a runtime past AWS's date for blocking new functions on it.",
    )(func)


def arch_option(func: F) -> F:
    return click.option(
        "--arch",
        type=click.Choice(ARCHITECTURES),
        help=f"Lambda architecture [default: {DEFAULTS.arch}].",
    )(func)


def memory_option(type: click.ParamType[Any] = MEMORY) -> Decorator[Any]:
    """--memory; ``cost`` takes any positive number (it prices what-ifs) and says
    so itself."""
    return click.option("--memory", type=type, help=f"Memory in MB [default: {DEFAULTS.memory}].")


def batch_size_option(
    help: str = f"Records per invocation [default: {DEFAULTS.batch_size}].",
    *,
    name: str = "batch_size",
    type: click.ParamType[Any] = BATCH_SIZE,
    multiple: bool = False,
) -> Decorator[Any]:
    """--batch-size: the trigger's (the setting batch-size) by default. ``invoke``
    (records per event, for --texts) and ``cost`` (repeatable) take theirs under
    another name, so the file's batch-size stays the trigger's, and check it
    themselves with a message of their own."""
    return click.option(
        "--batch-size", name, type=type, multiple=multiple, required=multiple, help=help
    )


def stream_arn_option(func: F) -> F:
    return click.option(
        "--stream-arn", type=STREAM_ARN, help="Kinesis stream ARN that triggers the function."
    )(func)


def table_stream_arn_option(func: F) -> F:
    return click.option(
        "--table-stream-arn",
        type=STREAM_ARN,
        help="DynamoDB table stream ARN that triggers the function.",
    )(func)


def sink_option(func: F) -> F:
    return click.option(
        "--sink",
        help="Where predictions go: log, dynamodb:TABLE or kinesis:STREAM "
        f"[default: {DEFAULTS.sink}].",
    )(func)


def on_failure_option(func: F) -> F:
    return click.option(
        "--on-failure",
        type=DESTINATION_ARN,
        help="SQS/SNS/S3 ARN that receives records that exhausted their retries.",
    )(func)


def trigger_options(func: F) -> F:
    """What the function reads and writes: --stream-arn, --table-stream-arn, --sink,
    --on-failure (deploy wires them; iam-policy grants them)."""
    return _stack(
        func, (stream_arn_option, table_stream_arn_option, sink_option, on_failure_option)
    )


def text_options(func: F) -> F:
    """--text-field and --text-is-json: where each record holds its text."""
    func = click.option(
        "--text-is-json",
        is_flag=True,
        default=None,
        help="The text field holds a JSON-encoded string (the seed's format).",
    )(func)
    return click.option(
        "--text-field",
        help=f"JSON field of each record holding the text [default: {DEFAULTS.text_field}].",
    )(func)


def handler_dir_option(func: F) -> F:
    return click.option(
        "--handler-dir", type=click.Path(file_okay=False), help="Your own handler/ directory."
    )(func)


def model_version_option(help: str) -> Decorator[Any]:
    return click.option("--model-version", type=LAYER_VERSION, help=help)


def input_options(func: F) -> F:
    """--event FILE and --texts FILE: what the handler runs on locally (invoke, compare)."""
    return _stack(
        func,
        (
            click.option("--event", type=click.Path(dir_okay=False), help="Event JSON file."),
            click.option(
                "--texts",
                type=click.Path(dir_okay=False),
                help="A file of texts, one per line: sent as Kinesis events instead of --event.",
            ),
        ),
    )


def deps_layer_options(func: F) -> F:
    """--deps-zip and --deps-version: the deps layer a local run uses (invoke, compare)."""
    return _stack(
        func,
        (
            click.option(
                "--deps-zip", type=click.Path(dir_okay=False), help="A deps layer zip to use."
            ),
            click.option(
                "--deps-version",
                type=LAYER_VERSION,
                help="A published deps layer version to use.",
            ),
        ),
    )


def shadow_model_option(help: str) -> Decorator[Any]:
    """--shadow-model N: a model layer version beside the live one (deploy, invoke)."""
    return click.option("--shadow-model", type=LAYER_VERSION, help=help)


def local_shadow_options(func: F) -> F:
    """--shadow-model-zip FILE and --shadow-model N: a shadow model layer a local run links
    beside the live one (invoke)."""
    return _stack(
        func,
        (
            click.option(
                "--shadow-model-zip",
                type=click.Path(dir_okay=False),
                help="A model layer zip to run as the shadow: logged, never returned.",
            ),
            shadow_model_option("A published model layer version to run as the shadow."),
        ),
    )


def deploy_shadow_options(func: F) -> F:
    """--shadow-model N and --no-shadow (deploy)."""
    return _stack(
        func,
        (
            shadow_model_option(
                "Link model layer version N beside the live one: it predicts every batch, "
                "its agreement is logged, its predictions never returned or written; it stays "
                "until --no-shadow, or --model-version N promotes it."
            ),
            click.option("--no-shadow", is_flag=True, help="Remove the shadow model."),
        ),
    )


def stream_records_options(func: F) -> F:
    """--records K [--stream-arn ARN]: compare on the newest records of a Kinesis stream."""
    return _stack(
        func,
        (
            click.option(
                "--records",
                type=click.INT,  # checked by ops.compare, with its limit in the message
                help="Compare on the newest K records of the Kinesis stream (read-only).",
            ),
            click.option(
                "--stream-arn",
                type=STREAM_ARN,
                help="The Kinesis stream --records reads [default: stream-arn in mlayer.toml].",
            ),
        ),
    )


def layer_version_option(help: str, *, multiple: bool = False) -> Decorator[Any]:
    """--version N of the model layer (rollback links it; cleanup deletes them)."""
    return click.option("--version", "version", type=LAYER_VERSION, multiple=multiple, help=help)


def allow_mismatch_option(
    help: str = "Go ahead although the model was saved with other Python/scikit-learn/numpy "
    "versions than the deps layer has (recorded on the function; status shows it).",
) -> Decorator[Any]:
    """--allow-version-mismatch: past the compatibility gate (publish-model, deploy,
    rollback)."""
    return click.option("--allow-version-mismatch", is_flag=True, default=None, help=help)


def stream_options(func: F) -> F:
    """How the trigger reads the stream: position, bisecting, retries, record age,
    parallelization (mlayer's defaults in settings.py)."""
    return _stack(
        func,
        (
            click.option(
                "--starting-position",
                type=click.Choice(["LATEST", "TRIM_HORIZON"]),
                help=f"Where a new trigger starts reading [default: {DEFAULTS.starting_position}].",
            ),
            click.option(
                "--bisect-on-error/--no-bisect-on-error",
                default=None,
                help="Split a failing batch in two and retry each half (a split uses no retry) "
                f"[default: {'on' if SAFE_BISECT_ON_ERROR else 'off'}].",
            ),
            click.option(
                "--maximum-retries",
                type=click.IntRange(-1, 10000),
                help="Retries of a failing batch, then its records are dropped (or sent "
                "--on-failure); -1 until they expire, the shard blocked meanwhile "
                f"[default: {SAFE_MAXIMUM_RETRIES}].",
            ),
            click.option(
                "--maximum-record-age",
                type=RECORD_AGE,
                help="Seconds after which a record is dropped, or sent --on-failure (60..604800); "
                f"-1 never [default: {SAFE_MAXIMUM_RECORD_AGE}, the streams' default retention].",
            ),
            click.option(
                "--parallelization-factor",
                type=click.IntRange(1, 10),
                help="Concurrent batches per shard "
                f"[default: {DEFAULTS.parallelization_factor}]; order per partition key is kept.",
            ),
        ),
    )


# build-deps: how the dependency layer is built (Settings' build-deps section).
_BUILD_OPTIONS = (
    click.option(
        "--builder",
        type=click.Choice(["auto", "pip", "docker"]),
        help="How to build [default: auto: docker when an engine answers, else pip].",
    ),
    click.option(
        "--image", help="Docker build image [default: public.ecr.aws/sam/build-<runtime>]."
    ),
    click.option(
        "--host-network",
        is_flag=True,
        default=None,
        help="Run build containers on the host network.",
    ),
    click.option(
        "--ca-bundle",
        type=click.Path(dir_okay=False),
        help="CA bundle for the build container's pip (mounted read-only) [default: $PIP_CERT].",
    ),
    click.option(
        "--slim/--no-slim",
        default=None,
        help="Remove tests, sources, headers, stubs, docs [default: slim].",
    ),
    click.option(
        "--bytecode/--no-bytecode",
        default=None,
        help="Compile unchecked-hash .pyc for the target's Python [default: on].",
    ),
    click.option(
        "--sourceless", is_flag=True, default=None, help="Ship .pyc in place of .py (smallest)."
    ),
    click.option(
        "--keep-sources",
        is_flag=True,
        default=None,
        help="With --prune, keep the .py files (--prune alone ships sourceless bytecode).",
    ),
    click.option(
        "--no-deps",
        is_flag=True,
        default=None,
        help="Install exactly the listed pins, no dependencies (each must be name==version).",
    ),
    click.option(
        "--prune",
        is_flag=True,
        default=None,
        help="Keep only what the sample model uses (traced), verified by its predictions.",
    ),
    click.option(
        "--defer-imports",
        is_flag=True,
        default=None,
        help="Defer the heavy modules the sample model never touches until first use "
        "(traced, verified by its predictions) [default: off].",
    ),
    click.option(
        "--sample-model",
        "sample_models",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="A joblib file of the model, for --prune (repeat, in pipeline order).",
    ),
    click.option(
        "--sample-event",
        type=click.Path(dir_okay=False),
        help="A sample event (Kinesis JSON, or a JSON list of texts) for --prune.",
    ),
    click.option(
        "--reserve-mb",
        type=click.IntRange(0),
        help="MB of Lambda's 262 MB to keep free besides the model layer [default: 0].",
    ),
)


def build_options(func: F) -> F:
    """--builder, --image, ..., --reserve-mb: how build-deps builds (its target is
    --runtime and --arch)."""
    return _stack(func, _BUILD_OPTIONS)


# cost: the INIT of cold starts, and the capacity plan of a steady stream.
_COST_SCALE_OPTIONS = (
    click.option(
        "--init-ms",
        type=click.FloatRange(min=0),
        help="INIT of one cold start in ms (billed since 2025-08-01), e.g. the Init Duration "
        "of invoke --local's REPORT [default with --measure: measured].",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(min=1),
        help="Containers an ingest starts cold [default: --shards x the parallelization-factor "
        "of mlayer.toml].",
    ),
    click.option(
        "--shards",
        type=click.IntRange(min=1),
        help="The stream's shards [default: 1; with --records-per-second: as many as needed].",
    ),
    click.option(
        "--records-per-second",
        type=click.FloatRange(min=0, min_open=True),
        help="Plan for a steady stream of R records a second instead of --records: shards, "
        "parallelization factor, concurrency and monthly cost.",
    ),
    click.option(
        "--record-bytes",
        type=click.IntRange(1, MAX_RECORD_BYTES),
        help="Size of one record with its partition key, for the shards of "
        f"--records-per-second [default: {DEFAULT_RECORD_BYTES:,}].",
    ),
)


def cost_scale_options(func: F) -> F:
    """--init-ms, --concurrency, --shards, --records-per-second, --record-bytes."""
    return _stack(func, _COST_SCALE_OPTIONS)


# deploy --alarms: the function's CloudWatch alarms (mlayer.alarms).
def alarms_option(func: F) -> F:
    return click.option(
        "--alarms",
        is_flag=True,
        default=None,
        help="Create or update CloudWatch alarms <function>-mlayer-iterator-age, -errors and "
        "-throttles (never replacing an alarm of those names that mlayer did not create).",
    )(func)


def alarm_topic_option(func: F) -> F:
    return click.option(
        "--alarm-topic",
        type=TOPIC_ARN,
        help="SNS topic ARN the --alarms notify on ALARM and on OK (same region and account).",
    )(func)


class Since(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.5
    """A time span back from now: 30s, 10m, 2h, 1d (``logsummary.parse_since``)."""

    name = "span"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_since(str(value))
        except ValueError as exc:
            self.fail(f"{value!r} {exc}", param, ctx)


def logs_options(func: F) -> F:
    """--since, --follow, --filter (logs)."""
    return _stack(
        func,
        (
            click.option(
                "--since",
                type=Since(),
                default="10m",
                show_default=True,
                help="How far back to read: 30s, 10m, 2h, 1d.",
            ),
            click.option(
                "--follow",
                is_flag=True,
                help="Keep printing new events (every 2 s) until Ctrl-C, then the summary.",
            ),
            click.option(
                "--filter",
                "filter_text",
                metavar="TEXT",
                help="Only events containing TEXT (a CloudWatch Logs filter pattern when it "
                "starts with a quote, { or [).",
            ),
        ),
    )
