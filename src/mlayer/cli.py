"""The command line: each command parses, calls one operation, renders its result.

Options are defined in ``options`` (mlayer.toml is their ``default_map``:
``command``), the operations in ``ops``, the lines and JSON in
``render``. Every error a user can fix is an ``MlayerError``;
``command.MlayerGroup`` turns it into one line on stderr and a non-zero exit
code. A traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from mlayer import __version__, local, render
from mlayer.aws import Aws
from mlayer.command import MlayerGroup, config_file, global_values
from mlayer.errors import UsageError
from mlayer.layerbuild.manifest import MANIFEST_FILE
from mlayer.ops import cleanup as cleanup_ops
from mlayer.ops import compare as compare_ops
from mlayer.ops import cost as cost_ops
from mlayer.ops import deploy as deploy_ops
from mlayer.ops import deps as deps_ops
from mlayer.ops import inspect as inspect_ops
from mlayer.ops import invoke as invoke_ops
from mlayer.ops import logs as logs_ops
from mlayer.ops import model as model_ops
from mlayer.options import (
    ROLE_ARN,
    alarm_topic_option,
    alarms_option,
    alias_option,
    allow_deprecated_runtime_option,
    allow_mismatch_option,
    arch_option,
    batch_size_option,
    bucket_option,
    build_options,
    cost_scale_options,
    deploy_shadow_options,
    deps_layer_options,
    dry_run_option,
    for_model_option,
    global_options,
    handler_dir_option,
    input_options,
    layer_name_option,
    layer_version_option,
    local_shadow_options,
    logs_options,
    memory_option,
    model_version_option,
    out_option,
    provisioned_concurrency_option,
    release_options,
    runtime_option,
    stream_options,
    stream_records_options,
    text_options,
    trigger_options,
)
from mlayer.output import Output
from mlayer.settings import Settings, resolve
from mlayer.targets import resolve_target
from mlayer.validate import check_region


def _settings(ctx: click.Context, **flags: Any) -> tuple[Settings, Output]:
    """mlayer.toml (its values as their options took them), then the global flags,
    then this command's ``flags``."""
    values = {k: v for k, v in global_values(ctx).items() if k != "config"}
    settings = resolve(config_file(ctx), {**values, **flags})
    return settings, Output(settings.json)


def _aws(settings: Settings) -> Aws:
    aws = Aws(settings.region, settings.profile, settings.endpoint_url)
    if settings.region is None:  # from AWS_REGION or the AWS config: not checked yet
        try:
            check_region(aws.region)
        except ValueError as exc:
            raise UsageError(
                f"AWS region {aws.region!r} (from AWS_REGION, AWS_DEFAULT_REGION or your "
                f"AWS config) {exc}"
            ) from None
    return aws


@click.group(cls=MlayerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlayer")
@global_options
def cli() -> None:
    """Serve scikit-learn models on AWS Lambda as layers.

    \b
    A typical first deployment:
      mlayer build-deps -r requirements.txt --publish --bucket my-bucket
      mlayer publish-model preproc1.joblib preproc2.joblib model.joblib --label v1
      mlayer deploy --role ROLE_ARN --stream-arn STREAM_ARN
    Then, for each new model: publish-model and deploy (only the model layer
    is relinked); mlayer rollback --version N goes back.

    Every option can also be set in ./mlayer.toml (same names, without dashes).
    """


@cli.command("build-deps", short_help="Build the dependency layer and optionally publish it.")
@click.option(
    "-r",
    "--requirements",
    type=click.Path(dir_okay=False),
    help="Pinned requirements of the model (numpy, scikit-learn, ...).",
)
@for_model_option
@runtime_option
@allow_deprecated_runtime_option
@arch_option
@build_options
@click.option("--no-cache", is_flag=True, help="Rebuild even if nothing changed.")
@out_option
@click.option("--publish", is_flag=True, help="Publish the zip as a new layer version.")
@layer_name_option("deps")
@bucket_option
@dry_run_option
@global_options
@click.pass_context
def build_deps(
    ctx: click.Context,
    /,
    layer_name: str | None,
    no_cache: bool,
    publish: bool,
    dry_run: bool,
    **flags: Any,
) -> None:
    """Build the dependency layer (python/ in build/deps-layer.zip) and optionally publish it.

    \b
    Installs for the Lambda target (wheel tags checked), slims, compiles
    unchecked-hash bytecode, verifies the imports in a fresh interpreter, checks
    the size budget and writes build/deps-build.json beside the zip.
    """
    settings, output = _settings(ctx, deps_layer_name=layer_name, **flags)
    output.say_runtime(settings)
    resolve_target(settings.runtime, settings.arch)  # refuse an unknown target before any work
    if publish:
        settings.deps_layer  # noqa: B018 - needs a function or layer name before building
    progress = output.progress()
    built = deps_ops.build_deps(
        settings,
        publish=publish,
        aws=lambda: _aws(settings),
        progress=progress,
        use_cache=not no_cache,
        dry_run=dry_run,
    )
    output.result(render.build_deps(built, Path(settings.out) / MANIFEST_FILE, dry_run))


@cli.command("publish-model", short_help="Publish the model's joblib files as a new layer version.")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@layer_name_option("model")
@click.option("--label", help="A label for this model version, e.g. 20190105v1.")
@bucket_option
@out_option
@click.option(
    "--force", is_flag=True, help="Publish even if the newest version has the same files."
)
@allow_mismatch_option(
    "Publish although the model was saved with other versions than the deps layer has."
)
@click.option(
    "--trust-global",
    multiple=True,
    metavar="MODULE.NAME",
    help="Accept a global (joblib) or type (skops) outside mlayer's allowlist that you vouch "
    "for; repeatable; recorded in the manifest.",
)
@dry_run_option
@global_options
@click.pass_context
def publish_model(
    ctx: click.Context,
    /,
    files: tuple[str, ...],
    layer_name: str | None,
    force: bool,
    dry_run: bool,
    **flags: Any,
) -> None:
    """Zip the model's .joblib FILES (pre-processors first, the model last) into
    a layer under /opt/mlayer-model/<content id> and publish a new version, after checking
    them against the deps layer's Python, scikit-learn and numpy versions."""
    settings, output = _settings(ctx, model_files=files, model_layer_name=layer_name, **flags)
    if not settings.model_files:
        raise UsageError("no model files given: mlayer publish-model PRE1.joblib ... MODEL.joblib")
    settings.model_layer  # noqa: B018 - refuse a missing name before any work
    manifest, zipped, published = model_ops.publish_model(
        settings,
        [Path(f) for f in settings.model_files],
        aws=_aws(settings),
        force=force,
        progress=output.progress(),
        dry_run=dry_run,
    )
    output.result(render.published_model(manifest, zipped, published, dry_run))


@cli.command(short_help="Create or update the function, link the layers, wire the trigger.")
@click.option("--role", type=ROLE_ARN, help="Execution role ARN (needed to create the function).")
@click.option(
    "--create-role",
    is_flag=True,
    default=None,
    help="Create (or update) the role <function>-mlayer with the least-privilege policy.",
)
@trigger_options
@batch_size_option()
@stream_options
@memory_option()
@click.option("--timeout", type=click.IntRange(1, 900), help="Timeout in seconds [default: 60].")
@model_version_option("Model layer version [default: newest].")
@deploy_shadow_options
@runtime_option
@allow_deprecated_runtime_option
@arch_option
@text_options
@handler_dir_option
@alias_option
@release_options
@alarms_option
@alarm_topic_option
@allow_mismatch_option()
@out_option
@dry_run_option
@global_options
@click.pass_context
def deploy(
    ctx: click.Context,
    /,
    model_version: int | None,
    shadow_model: int | None,
    no_shadow: bool,
    dry_run: bool,
    **flags: Any,
) -> None:
    """Create or update the function from handler/, link the newest deps layer and
    the model layer version, publish it as a version, point the alias (live) at it,
    and wire the Kinesis or DynamoDB stream trigger to the alias. Checks the model
    against the deps layer first. Idempotent: nothing changed, nothing published."""
    settings, output = _settings(ctx, **flags)
    output.say_runtime(settings)
    result = deploy_ops.deploy(
        settings,
        _aws(settings),
        model_version=model_version,
        shadow=deploy_ops.ShadowChoice(shadow_model, no_shadow),
        dry_run=dry_run,
        on_step=output.step,
    )
    output.result(render.deployed(result, dry_run))


@cli.command(short_help="Serve an earlier model layer version again: one alias update.")
@layer_version_option("Model layer version to serve.")
@click.option(
    "--to-previous",
    is_flag=True,
    help="Point the alias back at the function version it served before.",
)
@alias_option
@allow_mismatch_option()
@dry_run_option
@global_options
@click.pass_context
def rollback(
    ctx: click.Context, /, version: int | None, to_previous: bool, dry_run: bool, **flags: Any
) -> None:
    """Serve model layer version N again: point the alias at the newest function
    version carrying it with the deps layer now live (one alias update), or publish
    one. The model is checked against that deps layer first."""
    settings, output = _settings(ctx, **flags)
    result = deploy_ops.rollback(
        settings,
        _aws(settings),
        version=version,
        to_previous=to_previous,
        dry_run=dry_run,
        on_step=output.step,
    )
    output.result(render.deployed(result, dry_run))


@cli.command(short_help="Run the handler locally as Lambda would, with a REPORT line.")
@click.option(
    "--local",
    "is_local",
    is_flag=True,
    required=True,
    help="Run on this machine (the only mode so far).",
)
@input_options
# Records per event, not the trigger's batch size: checked by local.read_events.
@batch_size_option(
    "Records per event with --texts [default: 100].", name="records_per_event", type=click.INT
)
@click.option(
    "--repeat", type=int, default=1, help="Invoke N times: the first cold, the rest warm."
)
@deps_layer_options
@click.option("--model-zip", type=click.Path(dir_okay=False), help="A model layer zip to use.")
@model_version_option("A published model layer version to use.")
@local_shadow_options
@runtime_option
@memory_option()
@text_options
@handler_dir_option
@bucket_option
@out_option
@global_options
@click.pass_context
def invoke(
    ctx: click.Context,
    /,
    is_local: bool,
    event: str | None,
    texts: str | None,
    records_per_event: int | None,
    repeat: int,
    deps_zip: str | None,
    model_zip: str | None,
    deps_version: int | None,
    model_version: int | None,
    shadow_model_zip: str | None,
    shadow_model: int | None,
    **flags: Any,
) -> None:
    """Run the handler on an event as Lambda runs it, and print its result and REPORT line.

    \b
    Layers, per layer: --deps-zip/--model-zip; else --deps-version/--model-version
    (published); else the versions the deployed function links; else the zips in
    the build directory. Published zips come from mlayer's local store, S3 or
    the layer's download URL. --shadow-model-zip/--shadow-model link a shadow
    model beside the live one: the handler logs how it agrees, returns the live's.
    """
    settings, output = _settings(ctx, **flags)
    events = local.read_events(
        event=event,
        texts=texts,
        batch_size=records_per_event,
        default_batch_size=settings.batch_size,
        text_field=settings.text_field,
        text_is_json=settings.text_is_json,
    )
    output.say_runtime(settings)
    resolve_target(settings.runtime, settings.arch)  # refuse an unknown target before any work
    layers = invoke_ops.local_zips(
        settings,
        deps_zip=deps_zip,
        model_zip=model_zip,
        deps_version=deps_version,
        model_version=model_version,
        shadow_zip=shadow_model_zip,
        shadow_version=shadow_model,
        aws=lambda: _aws(settings),
        on_message=output.info,
    )
    invocation = invoke_ops.run_local(
        settings,
        events,
        [layer.path for layer in layers],
        repeat=repeat,
        on_log=output.detail,
        environment=invoke_ops.shadow_environment(layers),
    )
    # Said after the run, so that a refusal stays one line.
    for layer in layers:
        output.info(f"{layer.kind} layer: {layer.path} ({layer.origin})")
    deferred = invoke_ops.deferral_note(settings, layers)
    if deferred:
        output.info(deferred)
    output.result(render.invocation(invocation, settings.memory))


@cli.command(short_help="Run two models on the same records locally and say where they differ.")
@click.argument("model_a", metavar="A")
@click.argument("model_b", metavar="B")
@input_options
@stream_records_options
@deps_layer_options
@allow_mismatch_option("Zip a folder's files although they were saved with different versions.")
@runtime_option
@memory_option()
@batch_size_option("Records per event with --texts and --records [default: batch-size, 100].")
@text_options
@handler_dir_option
@bucket_option
@out_option
@global_options
@click.pass_context
def compare(
    ctx: click.Context,
    /,
    model_a: str,
    model_b: str,
    event: str | None,
    texts: str | None,
    records: int | None,
    deps_zip: str | None,
    deps_version: int | None,
    **flags: Any,
) -> None:
    """Run models A and B through the handler on this machine, on the same records,
    and print how often they agree, the disagreements by class, the records that
    differ and each model's time per record.

    \b
    A and B: a version of the model layer (a number), or a folder of .joblib/.skops
    files whose sorted names are the pipeline's order (./1 for a folder named 1).
    Records: --event FILE, --texts FILE, or --records K, the newest K records of
    --stream-arn (or stream-arn in mlayer.toml), read without changing the stream.
    Each model runs as invoke --local runs the function, in its own interpreter.
    """
    if records is None and ctx.get_parameter_source("stream_arn") is ParameterSource.COMMANDLINE:
        raise UsageError("--stream-arn is read with --records K (the newest K records): add it")
    settings, output = _settings(ctx, **flags)
    a, b = compare_ops.parse_model(model_a), compare_ops.parse_model(model_b)
    output.say_runtime(settings)
    resolve_target(settings.runtime, settings.arch)  # refuse an unknown target before any work
    result = compare_ops.compare(
        settings,
        a,
        b,
        event=event,
        texts=texts,
        records=records,
        deps_zip=deps_zip,
        deps_version=deps_version,
        aws=lambda: _aws(settings),
        on_message=output.info,
    )
    output.result(render.compared(result))


@cli.command(short_help="Cost per ingest with INIT, or a stream's capacity plan.")
@click.option("--records", type=int, help="Records per ingest (e.g. 50000).")
# Any positive number: cost_row says why not, as for every figure of the command.
@batch_size_option(
    "Records per invocation; repeat for several (--batch-size 1 --batch-size 100).",
    name="batch_sizes",
    type=click.INT,
    multiple=True,
)
@click.option("--duration-ms", type=float, help="Duration of one invocation in ms.")
@click.option(
    "--measure",
    type=click.Path(dir_okay=False),
    help="Measure the duration per batch size instead: invoke the local layers on "
    "this texts file (one text per line).",
)
@memory_option(click.INT)
@arch_option
@click.option("--price-per-gb-second", type=float, help="Override the price per GB-second.")
@click.option(
    "--price-per-100ms",
    type=float,
    help="The price of 100 ms at --memory, as AWS listed it before 2020 (implies 100 ms billing).",
)
@click.option("--request-price", type=float, help="Price per request [default: $0.0000002].")
@click.option("--granularity-ms", type=int, help="Billing step: 1 (today) or 100 (before 2020).")
@click.option(
    "--endpoint-monthly",
    type=float,
    help="Monthly price of the always-on endpoint [default: $50.40 = $0.07/h].",
)
@click.option("--ingests-per-day", type=float, help="Also show the monthly cost at this rate.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Draw monthly cost against ingests per day to FILE.png (needs mlayer[plot]).",
)
@cost_scale_options
@provisioned_concurrency_option
@out_option
@global_options
@click.pass_context
def cost(
    ctx: click.Context,
    /,
    memory: int | None,
    arch: str | None,
    endpoint_monthly: float | None,
    out: str | None,
    **request: Any,
) -> None:
    """What an ingest of RECORDS costs on Lambda per batch size, its cold starts' INIT
    included, and the break-even number of ingests against an always-on endpoint;
    or, with --records-per-second, the shards, parallelization factor, concurrency
    and monthly cost of a steady stream beside the endpoint."""
    settings, output = _settings(
        ctx, memory=memory, arch=arch, endpoint_monthly=endpoint_monthly, out=out
    )
    if request.get("measure"):
        output.say_runtime(settings)  # --measure runs the layers on the runtime's Python
    estimate = cost_ops.estimate(settings, cost_ops.CostRequest(**request), output.info)
    output.result(render.cost(estimate))


@cli.command(short_help="Show the function, its layers, model and triggers.")
@global_options
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the function, its linked layer versions, model, sink and triggers."""
    settings, output = _settings(ctx)
    state = inspect_ops.status(settings, _aws(settings))
    output.result(render.status(state, settings.function_name))


@cli.command(short_help="List the model layer versions; * marks the live one.")
@global_options
@click.pass_context
def versions(ctx: click.Context) -> None:
    """List the model layer versions, newest first; * marks the one the function links."""
    settings, output = _settings(ctx)
    rows = inspect_ops.versions(settings, _aws(settings))
    output.result(render.versions(rows, settings.model_layer))


@cli.command(short_help="Show the function's CloudWatch Logs, REPORT lines summarised.")
@logs_options
@global_options
@click.pass_context
def logs(ctx: click.Context, /, since: timedelta, follow: bool, filter_text: str | None) -> None:
    """Print the function's log events of the last --since (newest last), then a
    summary: p50/p95 duration, cold starts and their INIT, the largest memory
    used, and the shadow model's agreement rate. --follow keeps printing new
    events until Ctrl-C; with --json, one object per batch of events, then the
    summary's."""
    settings, output = _settings(ctx)
    aws = _aws(settings)
    if follow:
        result = logs_ops.follow(
            settings,
            aws,
            since=since,
            text=filter_text,
            on_events=lambda events: output.result(render.log_events(events)),
        )
        output.result(render.logs(result, with_events=False))
    else:
        result = logs_ops.read_logs(settings, aws, since=since, text=filter_text)
        output.result(render.logs(result))


@cli.command(short_help="Delete old function and model layer versions nothing uses.")
@click.option(
    "--keep",
    type=click.IntRange(1),
    help="Keep the K newest function versions and model layer versions (and any in use).",
)
@layer_version_option(
    "Delete exactly this version (repeatable); refused if anything links it.", multiple=True
)
@dry_run_option
@global_options
@click.pass_context
def cleanup(ctx: click.Context, keep: int | None, version: tuple[int, ...], dry_run: bool) -> None:
    """Delete old function versions (never one an alias points at) and model layer
    versions (never one that any kept version or alias of a function links); says
    what it kept and why."""
    settings, output = _settings(ctx)
    result = cleanup_ops.cleanup(
        settings, _aws(settings), keep=keep, delete=version, dry_run=dry_run, on_step=output.step
    )
    output.result(render.cleanup(result, dry_run))


@cli.command("iam-policy", short_help="Print the least-privilege role policy of the function.")
@trigger_options
@global_options
@click.pass_context
def iam_policy(ctx: click.Context, /, **flags: Any) -> None:
    """Print the least-privilege policy of the function's execution role for its
    triggers, sink and failure destination (what deploy --create-role attaches)."""
    settings, _output = _settings(ctx, **flags)
    policy = inspect_ops.iam_policy(settings, _aws(settings))
    # The policy document is the result either way: it is JSON already.
    click.echo(json.dumps(policy, indent=2))


def main() -> None:
    cli(prog_name="mlayer")
