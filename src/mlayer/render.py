"""What each command tells its user: the lines for people and the ``--json`` object.

Pure functions: an operation's result in, a ``Report`` out (the JSON data and the
lines, both from the same values). The CLI prints one or the other; nothing here
prints, reads a file or calls AWS.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlayer.arns import layer_name_of, layer_version_of, short_arn
from mlayer.cost import BINDING_LIMITS, DEFAULT_ACCOUNT_CONCURRENCY, INIT_BILLED_SINCE
from mlayer.layerbuild.budget import UNZIPPED_LIMIT, size_lines

if TYPE_CHECKING:
    from mlayer.layerbuild.archive import ZipSummary
    from mlayer.local import Invocation
    from mlayer.logsummary import LogEvent, LogSummary
    from mlayer.model import ModelManifest
    from mlayer.ops.cleanup import CleanupResult
    from mlayer.ops.compare import CompareResult
    from mlayer.ops.cost import CostEstimate
    from mlayer.ops.deploy import DeployResult
    from mlayer.ops.deps import LayerBuild
    from mlayer.ops.inspect import ModelVersionInfo, Status
    from mlayer.ops.layers import Published
    from mlayer.ops.logs import LogsResult
    from mlayer.state import AlarmState, TriggerState


@dataclass(frozen=True)
class Report:
    """A command's result: ``data`` for --json, ``lines`` for people."""

    data: dict[str, Any]
    lines: list[str]


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def build_deps(built: LayerBuild, manifest_path: Path, dry_run: bool) -> Report:
    """The zip, its budget and largest packages, and the published version if any."""
    zipped, published, build = built.zip, built.published, built.build
    lines = [
        f"{zipped.path}: {mb(zipped.zipped_bytes)} zipped, {mb(zipped.unzipped_bytes)} unzipped"
        + (" (reused from the cache)" if build and build.cached else "")
    ]
    details: dict[str, Any] = {}
    if build:
        manifest = build.manifest
        lines.append(f"budget: {build.budget.summary()}")
        packages = manifest["packages"].items()
        sizes = {name: p["bytes"] for name, p in sorted(packages, key=lambda kv: -kv[1]["bytes"])}
        lines += ["largest packages:"] + [f"  {line}" for line in size_lines(sizes)]
        lines.append(f"build manifest: {manifest_path}")
        modules = manifest["modules"]
        details = {
            "cached": build.cached,
            "versions": build.versions,
            "upload": build.budget.upload,
            "headroom_bytes": build.budget.headroom_bytes,
            "package_bytes": sizes,
            "manifest": str(manifest_path),
            "pruned_modules": len(modules) if modules is not None else None,
            "deferred": manifest.get("deferred"),  # --defer-imports: modules, saved_ms
            "warnings": build.warnings,
        }
        if manifest.get("deferred", {}).get("modules"):
            deferred = manifest["deferred"]
            lines.append(
                "defers until first use: "
                + ", ".join(m["name"] for m in deferred["modules"])
                + f" (the sample's init {deferred['sample_ms']['without']:.0f} -> "
                f"{deferred['sample_ms']['with']:.0f} ms)"
            )
    if published:
        verb = "published" if published.new else "unchanged, still"
        lines.append(f"{verb} {short_arn(published.arn)}  {published.arn}")
    data = {
        "zip": str(zipped.path),
        "sha256": zipped.sha256,
        "zipped_bytes": zipped.zipped_bytes,
        "unzipped_bytes": zipped.unzipped_bytes,
        **details,
        **({"for_model_pins": built.pins} if built.pins is not None else {}),
        "published": {"version": published.version, "arn": published.arn, "new": published.new}
        if published
        else None,
        "dry_run": dry_run,
    }
    return Report(data, lines)


def published_model(
    manifest: ModelManifest, zipped: ZipSummary, published: Published | None, dry_run: bool
) -> Report:
    """The version published (or found unchanged); nothing on a dry run, whose
    messages said what would happen."""
    data = {
        "zip": str(zipped.path),
        "sha256": zipped.sha256,
        "content_sha256": manifest.content_sha256,
        "version": published.version if published else None,
        "arn": published.arn if published else None,
        "new": published.new if published else True,
        "dry_run": dry_run,
    }
    if published is None:
        return Report(data, [])
    verb = "published" if published.new else "unchanged, still"
    arn = published.arn
    return Report(data, [f"{verb} {short_arn(arn)} (version {published.version})  {arn}"])


def deployed(result: DeployResult, dry_run: bool) -> Report:
    """deploy and rollback: the steps done (or that would be), the layers, the notes."""
    steps = result.plan.describe()
    lines = []
    if not result.plan.changed:
        lines.append(f"{result.function_arn}: nothing to change")
    elif dry_run:
        lines += ["Would:"] + [f"  {step}" for step in steps]
    else:
        lines.append(f"{result.function_arn}: done ({len(steps)} step(s))")
    lines += [f"  layer {short_arn(arn)}" for arn in result.layers]
    lines += [f"  {line}" for line in result.alarms]
    lines += [f"  note: {note}" for note in result.plan.notes]
    data = {
        "function_arn": result.function_arn,
        "alarms": list(result.alarms),
        "layers": list(result.layers),
        "changed": result.plan.changed and result.applied,
        "dry_run": dry_run,
        "steps": steps,
        "notes": list(result.plan.notes),
    }
    return Report(data, lines)


def invocation(result: Invocation, memory_mb: int) -> Report:
    """invoke --local: the handler's result and Lambda's REPORT line(s)."""
    data: dict[str, Any] = {"result": result.result, "report": result.report}
    if len(result.runs) > 1:
        data["repeats"] = result.repeats
    return Report(data, [json.dumps(result.result, indent=2), *result.report_lines(memory_mb)])


# compare: how many of the records that differ are listed for people (--json lists all).
SHOWN_DISAGREEMENTS = 20


def compared(result: CompareResult) -> Report:
    """compare: the agreement rate, the disagreements by (A's class, B's class), the
    records that differ and each model's time per record."""
    c = result.comparison
    rate = c.agreement_rate
    data = {
        "a": {"model": result.a.name, "origin": result.a.origin, **result.a.timing.to_dict()},
        "b": {"model": result.b.name, "origin": result.b.origin, **result.b.timing.to_dict()},
        "input": result.origin,
        "records": result.records,
        "compared": c.compared,
        "agreements": c.agreements,
        "agreement_rate": rate,
        "confusion": [{"a": a, "b": b, "count": n} for a, b, n in c.confusion],
        "disagreements": [dataclasses.asdict(d) for d in c.disagreements],
        "failed_only_a": c.failed_only_a,
        "failed_only_b": c.failed_only_b,
        "failed_both": c.failed_both,
    }
    lines = [
        f"A: {result.a.name} ({result.a.origin})",
        f"B: {result.b.name} ({result.b.origin})",
        f"on {result.origin}: {result.records} record(s)",
        "agreement: "
        + (f"{rate:.1%} ({c.agreements} of {c.compared} records)" if rate is not None else "-"),
    ]
    for label, ids in (
        ("failed with A only", c.failed_only_a),
        ("failed with B only", c.failed_only_b),
        ("failed with both (undecodable)", c.failed_both),
    ):
        if ids:
            listed = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            lines.append(f"{label}: {len(ids)} ({listed})")
    if c.confusion:
        width = max(len("A"), *(len(str(a)) for a, _, _ in c.confusion))
        lines += ["", "disagreements by class:", f"  {'A':<{width}}  ->  {'B':<{width}}  COUNT"]
        lines += [f"  {a!s:<{width}}  ->  {b!s:<{width}}  {n:>5}" for a, b, n in c.confusion]
        shown = c.disagreements[:SHOWN_DISAGREEMENTS]
        more = f" (first {len(shown)} of {len(c.disagreements)}; --json lists all)"
        lines += ["", f"records that differ{more if len(shown) < len(c.disagreements) else ''}:"]
        for d in shown:
            text = f"  {d.text!r}" if d.text is not None else ""
            lines.append(f"  {d.id}  A: {d.a}  B: {d.b}{text}")
    lines.append("")
    for key, model in (("A", result.a), ("B", result.b)):
        t = model.timing
        per_record = f"{t.per_record_ms:.3f} ms per record" if t.per_record_ms is not None else "-"
        lines.append(
            f"{key} took {per_record} warm ({t.duration_ms:.1f} ms for {t.records}; "
            f"{t.first_pass_ms:.1f} ms right after an init of {t.init_ms:.0f} ms)"
        )
    return Report(data, lines)


def cost(estimate: CostEstimate) -> Report:
    """The prices, then one row per batch size: cost per invocation and per ingest
    (its INIT and INIT's share), and how many ingests a month an always-on endpoint
    is worth; or, for --records-per-second, the capacity plan (``capacity_plan``)."""
    if estimate.records_per_second is not None:
        return capacity_plan(estimate)
    prices, monthly = estimate.prices, estimate.ingests_per_day is not None
    lines = [
        f"{estimate.records:,} records per ingest, {estimate.memory_mb} MB, {estimate.arch}: "
        + prices.describe(estimate.memory_mb),
        f"always-on endpoint: ${estimate.endpoint_monthly:,.2f} a month",
    ]
    if estimate.init_ms is not None:
        lines.append(
            f"INIT {estimate.init_ms:,.0f} ms per cold start ({estimate.init_from}), "
            f"{estimate.concurrency} cold start(s) per ingest ({estimate.concurrency_from}), "
            f"billed at the duration rate (since {INIT_BILLED_SINCE})"
        )
    lines += [
        "",
        f"{'BATCH':>6} {'BILLED MS':>10} {'INVOCATIONS':>12} {'$/INVOCATION':>14} "
        f"{'$/INGEST':>12} {'BREAK-EVEN INGESTS /MONTH':>26} {'/DAY':>8} {'/HOUR':>7} "
        f"{'INIT $/INGEST':>14} {'INIT %':>7}" + (f" {'$/MONTH':>10}" if monthly else ""),
    ]
    for row in estimate.rows:
        share = row.init_share
        lines.append(
            f"{row.batch_size:>6} {row.billed_ms:>10,} {row.invocations_per_ingest:>12,} "
            f"{row.cost_per_invocation:>14.8f} {row.cost_per_ingest:>12.6f} "
            f"{row.breakeven_ingests_per_month:>26,.0f} {row.breakeven_ingests_per_day:>8,.1f} "
            f"{row.breakeven_ingests_per_hour:>7,.1f} "
            + (f"{row.init_cost_per_ingest:>14.8f} {_percent(share):>7}" if share is not None
               else f"{'-':>14} {'-':>7}")
            + (f" {row.monthly_cost:>10.2f}" if row.monthly_cost is not None else "")
        )  # fmt: skip
    data = {
        "prices": dataclasses.asdict(prices),
        "endpoint_monthly": estimate.endpoint_monthly,
        "init_ms": estimate.init_ms,
        "init_from": estimate.init_from,
        "cold_starts_per_ingest": estimate.concurrency,
        "rows": [row.to_json() for row in estimate.rows],
        "provisioned_concurrency": estimate.provisioned,
        "provisioned_monthly": estimate.provisioned_monthly,
    }
    if estimate.provisioned:
        lines.append(
            f"provisioned concurrency: {estimate.provisioned} environment(s) of "
            f"{estimate.memory_mb} MB, ${estimate.provisioned_monthly:,.2f} a month before any "
            "request (its requests pay a lower duration price; the rows price them on demand)"
        )
    return Report(data, lines)


def _percent(share: float) -> str:
    """A share as a percentage; one too small for two decimals says so."""
    return "<0.01%" if 0 < share < 0.00005 else f"{share:.2%}"


def capacity_plan(estimate: CostEstimate) -> Report:
    """cost --records-per-second: per batch size, the shards (and the limit that
    sets them), parallelization factor, concurrency and monthly cost beside the
    endpoint; then what the plan assumes."""
    plans, rate = estimate.plans, estimate.records_per_second or 0
    record_bytes = plans[0].record_bytes if plans else 0
    init = estimate.init_ms is not None
    lines = [
        f"{rate:,g} records/s of {record_bytes:,} bytes, {estimate.memory_mb} MB, "
        f"{estimate.arch}: " + estimate.prices.describe(estimate.memory_mb),
        f"always-on endpoint: ${estimate.endpoint_monthly:,.2f} a month",
        "SHARDS set by: records = " + BINDING_LIMITS["records"] + ", bytes = "
        + BINDING_LIMITS["bytes"] + ", processing = " + BINDING_LIMITS["processing"],
    ]  # fmt: skip
    if init:
        lines.append(
            f"INIT {estimate.init_ms:,.0f} ms per cold start ({estimate.init_from}), billed at "
            f"the duration rate (since {INIT_BILLED_SINCE}): INIT $/START is every container "
            "starting cold once (at the start, on scaling, when Lambda replaces them)"
        )
    lines += [
        "",
        f"{'BATCH':>6} {'WARM MS':>9} {'SHARDS':>7} {'SET BY':>10} {'FACTOR':>7} "
        f"{'CONCURRENCY':>12} {'BUSY':>7} {'INVOCATIONS/S':>14} {'$/MONTH':>11} "
        f"{'X ENDPOINT':>11}" + (f" {'INIT $/START':>13}" if init else ""),
    ]
    notes = []
    for plan in plans:
        lines.append(
            f"{plan.batch_size:>6} {plan.duration_ms:>9,.2f} {plan.shards:>7,} "
            f"{plan.binds:>10} {plan.parallelization_factor:>7} {plan.concurrency:>12,} "
            f"{plan.busy:>7,.2f} {rate / plan.batch_size:>14,.1f} {plan.monthly_cost:>11,.2f} "
            f"{plan.versus_endpoint:>10,.2f}x"
            + (f" {plan.init_cost_per_start:>13.6f}" if plan.init_cost_per_start is not None
               else "")
        )  # fmt: skip
        if not plan.batches_fill:
            notes.append(
                f"batch {plan.batch_size}: a shard takes in {rate / plan.shards:,.0f} records a "
                "second, less than a batch: Lambda invokes with smaller batches, more often "
                "than planned (plan with a --batch-size it fills)"
            )
        if plan.concurrency > DEFAULT_ACCOUNT_CONCURRENCY:
            notes.append(
                f"batch {plan.batch_size}: concurrency {plan.concurrency:,} is over Lambda's "
                f"default quota of {DEFAULT_ACCOUNT_CONCURRENCY:,} per account and region: "
                "ask for more, or use a larger --batch-size"
            )
    lines.append(
        "BUSY = batches running at once on average (records/s x warm ms / batch); the "
        "FACTOR (deploy --parallelization-factor) leaves room above it so IteratorAge stays "
        "flat; the shards' own price is not counted"
    )
    lines += [f"note: {note}" for note in notes]
    data = {
        "prices": dataclasses.asdict(estimate.prices),
        "endpoint_monthly": estimate.endpoint_monthly,
        "records_per_second": rate,
        "init_ms": estimate.init_ms,
        "init_from": estimate.init_from,
        "plans": [plan.to_json() for plan in plans],
        "notes": notes,
    }
    return Report(data, lines)


def trigger_line(t: TriggerState) -> str:
    """One trigger and the options that differ from Lambda's defaults."""
    options = [f"batch {t.batch_size}", t.state]
    if t.bisect_on_error:
        options.append("bisect on error")
    if t.maximum_retries != -1:
        options.append(f"{t.maximum_retries} retries")
    if t.maximum_record_age != -1:
        options.append(f"record age {t.maximum_record_age} s")
    if t.parallelization_factor != 1:
        options.append(f"{t.parallelization_factor} batches per shard")
    if t.on_failure:
        options.append(f"on failure -> {t.on_failure}")
    options.append(",".join(t.response_types) or "no partial batch response")
    target = t.function_arn.split(":function:", 1)[-1] if t.function_arn else ""
    return f"  trigger {t.source_arn} ({', '.join(options)}){f' -> {target}' if target else ''}"


def status(state: Status, function_name: str | None) -> Report:
    """The function, its layers and their sizes, the model, the pin, the sink and
    the triggers."""
    function = state.function
    if function is None:
        return Report(
            {"function": None}, [f"function {function_name} does not exist (run mlayer deploy)"]
        )
    lines = [f"function {function.name}  {function.arn}"]
    if state.alias is not None:
        lines.append(
            f"  alias {state.alias.name} -> version {state.alias.version}"
            + (f" ({function.description})" if function.description else "")
        )
    else:
        lines.append("  no alias: the trigger runs $LATEST (mlayer deploy moves it onto versions)")
    lines += [
        f"  state {function.state}, {function.runtime}/{function.architecture}, "
        f"{function.memory} MB, {function.timeout} s"
        + (", SnapStart on published versions" if function.snapstart else ""),
    ]
    lines += [f"  layer {short_arn(arn)}" for arn in function.layers]
    sizes = state.layer_unzipped_bytes
    if sizes:
        total = sum(sizes.values())
        lines.append(
            "  layers unzipped: "
            + " + ".join(f"{name} {mb(size)}" for name, size in sizes.items())
            + f" = {mb(total)} of Lambda's {mb(UNZIPPED_LIMIT)}"
            + ("" if len(sizes) == len(function.layers) else " (not every layer records its size)")
        )
    if state.deferred:
        lines.append(deferred_line(state.deferred, snapstart=function.snapstart))
    if state.model:
        model = state.model
        lines.append(
            f"  model version {model.get('version')} label {model.get('label', '-')} "
            f"sha256 {model.get('sha256', '-')} (python {model.get('python', '?')}, "
            f"scikit-learn {model.get('sklearn', '?')}, numpy {model.get('numpy', '?')})"
        )
    if state.shadow:
        lines.append(
            f"  shadow model version {state.shadow.get('version')} label "
            f"{state.shadow.get('label', '-')} sha256 {state.shadow.get('sha256', '-')}: "
            "predicts beside the live one, logged only (deploy --no-shadow removes it)"
        )
    if state.pinned_model_version is not None:
        lines.append(
            f"  model pinned to version {state.pinned_model_version}: "
            "plain deploys keep it; deploy --model-version N moves it"
        )
    lines.append(f"  sink {state.sink}")
    if state.version_mismatch_allowed:
        lines.append(f"  VERSION MISMATCH ALLOWED: {state.version_mismatch_allowed}")
    lines += [trigger_line(t) for t in state.triggers] or ["  no trigger"]
    lines += [f"  {line}" for line in alarm_lines(state.alarms)]
    data = {
        "function": {
            "name": function.name,
            "arn": function.arn,
            "version": function.version,
            "snapstart": function.snapstart,
            "state": function.state,
            "runtime": function.runtime,
            "architecture": function.architecture,
            "memory": function.memory,
            "timeout": function.timeout,
            "layers": [
                {"arn": arn, "name": layer_name_of(arn), "version": layer_version_of(arn)}
                for arn in function.layers
            ],
        },
        "alias": dataclasses.asdict(state.alias) if state.alias else None,
        "model": state.model,
        "shadow_model": state.shadow or None,
        "sink": state.sink,
        "version_mismatch_allowed": state.version_mismatch_allowed,
        "pinned_model_version": state.pinned_model_version,
        "layer_unzipped_bytes": state.layer_unzipped_bytes,
        "triggers": [dataclasses.asdict(t) for t in state.triggers],
        "alarms": alarms_json(state.alarms),
        "deferred": state.deferred or None,
    }
    return Report(data, lines)


def deferred_line(deferred: dict[str, Any], *, snapstart: bool = False) -> str:
    """``  deps layer fn-deps:3 defers scipy.stats, … until first use (-380 ms at init, measured
    at build)``: build-deps --defer-imports, as the deps layer's description records it."""
    names = ", ".join(deferred["modules"]) + (
        f" and {deferred['more']} more" if deferred.get("more") else ""
    )
    saved = deferred.get("saved_ms")
    measured = f" (-{saved} ms at init, measured at build)" if saved is not None else ""
    restore = "; not on SnapStart restores, whose snapshot holds every module" if snapstart else ""
    return f"  deps layer {deferred['layer']} defers {names} until first use{measured}{restore}"


def versions(rows: list[ModelVersionInfo], layer_name: str) -> Report:
    """The model layer's versions, newest first; * marks the one that serves (the
    alias's version links it), FUNCTION VERSIONS the function's versions carrying it."""
    data = {"versions": [dataclasses.asdict(row) for row in rows]}
    if not rows:
        return Report(data, [f"layer {layer_name} has no versions (run mlayer publish-model)"])
    lines = [
        f"{'':2}{'VERSION':>7}  {'LABEL':<16} {'SHA256':<16}  {'CREATED':<20} "
        f"{'PYTHON':<8} {'SKLEARN':<8} {'NUMPY':<8} {'FUNCTION VERSIONS':<18} LINKED BY"
    ]
    for row in rows:
        trained = row.trained_with
        lines.append(
            f"{'*' if row.live else ' ':2}{row.version:>7}  {row.label:<16} {row.sha256:<16}  "
            f"{row.created[:19]:<20} {trained.get('python', '-'):<8} "
            f"{trained.get('sklearn', '-'):<8} {trained.get('numpy', '-'):<8} "
            f"{','.join(row.function_versions) or '-':<18} "
            f"{', '.join(w for w in row.linked_by if not w.startswith('version ')) or '-'}"
        )
    return Report(data, lines)


def cleanup(result: CleanupResult, dry_run: bool) -> Report:
    """What was deleted (or would be), and what was kept and why."""
    steps = result.plan.describe()
    if not steps:
        lines = ["nothing to delete"]
    elif dry_run:
        lines = ["Would:"] + [f"  {step}" for step in steps]
    else:
        lines = [f"deleted {len(steps)} version(s)"] + [f"  {step}" for step in steps]
    lines += [f"  {kept.describe()}" for kept in result.kept]
    data = {
        "deleted": [] if dry_run else steps,
        "would_delete": steps if dry_run else [],
        "kept": [{"arn": k.arn, "reasons": list(k.reasons)} for k in result.kept],
        "dry_run": dry_run,
    }
    return Report(data, lines)


def alarm_lines(alarms: list[AlarmState]) -> list[str]:
    """The function's mlayer alarms and their states, for ``status``."""
    if not alarms:
        return ["alarms: none (deploy --alarms creates them)"]
    lines = ["alarms:"]
    for alarm in alarms:
        why = f": {alarm.reason}" if alarm.state == "ALARM" and alarm.reason else ""
        lines.append(f"  {alarm.name:<40} {alarm.state}{why}")
    return lines


def alarms_json(alarms: list[AlarmState]) -> list[dict[str, str]]:
    return [{"name": a.name, "state": a.state, "reason": a.reason} for a in alarms]


def _event_time(timestamp_ms: int) -> str:
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _event_json(event: LogEvent) -> dict[str, Any]:
    return {
        "timestamp": event.timestamp,
        "time": _event_time(event.timestamp) + "Z",
        "stream": event.stream,
        "message": event.message.rstrip("\n"),
    }


def _span(since: timedelta) -> str:
    """``timedelta(minutes=10)`` -> ``10m``, as --since takes it."""
    seconds = int(since.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def log_events(events: list[LogEvent]) -> Report:
    """Log events, oldest first, one line each (UTC time, then the message)."""
    lines = [f"{_event_time(event.timestamp)}  {event.message.rstrip()}" for event in events]
    return Report({"events": [_event_json(event) for event in events]}, lines)


def log_summary_lines(summary: LogSummary) -> list[str]:
    """REPORT lines as p50/p95 duration, cold starts, memory; shadow lines as an
    agreement rate per live/shadow pair."""
    if not summary.invocations:
        lines = ["REPORT: no invocations in the window"]
    else:
        lines = [
            f"REPORT: {summary.invocations} invocation(s), duration p50 "
            f"{summary.duration_p50_ms:,.1f} ms, p95 {summary.duration_p95_ms:,.1f} ms, "
            f"billed {summary.billed_ms:,.0f} ms in all; max memory used "
            f"{summary.max_memory_mb} of {summary.memory_mb} MB"
        ]
        if summary.cold_starts:
            lines.append(
                f"INIT: {summary.cold_starts} cold start(s), {summary.init_mean_ms:,.0f} ms "
                f"mean, {summary.init_max_ms:,.0f} ms max"
            )
        else:
            lines.append("INIT: no cold start in the window")
    for shadow in summary.shadows:
        rate = shadow.agreement_rate
        agreed = (
            f"{shadow.agreements:,} of {shadow.records - shadow.failed_records:,} records "
            f"agree ({rate:.1%})"
            if rate is not None
            else "no records compared"
        )
        failed = f"; failed in {shadow.failed_batches} batch(es)" if shadow.failed_batches else ""
        lines.append(
            f"shadow {shadow.shadow} vs live {shadow.live}: {agreed} over "
            f"{shadow.batches} batch(es){failed}"
        )
    return lines


def logs(result: LogsResult, *, with_events: bool = True) -> Report:
    """``mlayer logs``: the events, newest last (unless printed already, as --follow
    does), then their summary."""
    events = log_events(list(result.events)) if with_events else Report({"events": []}, [])
    found = f"{len(result.events)} event(s) in {result.group}"
    window = f"in the last {_span(result.since)}" + (
        f", filter {result.pattern}" if result.pattern else ""
    )
    lines = [*events.lines, "", f"{found} {window}", *log_summary_lines(result.summary)]
    data = {
        "group": result.group,
        "since_seconds": result.since.total_seconds(),
        "filter": result.pattern,
        **({"events": events.data["events"]} if with_events else {}),
        "summary": result.summary.to_json(),
    }
    return Report(data, lines)
