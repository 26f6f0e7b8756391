"""mlayer cost: the durations and the INIT (given, or measured on the local layers),
the prices, then one cost row per batch size, or with --records-per-second one
capacity plan per batch size; and the plot if asked.

The arithmetic and the price table are ``mlayer.cost`` (pure); this module only
wires them to the request, the measurement and the plot file.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlayer import cost as pricing
from mlayer import local
from mlayer.errors import UsageError
from mlayer.ops import invoke
from mlayer.settings import Settings


@dataclass(frozen=True)
class CostRequest:
    """What ``mlayer cost`` was asked: its own flags, by their names (memory, arch,
    the parallelization factor and the endpoint's price are settings)."""

    records: int | None = None  # per ingest; or records_per_second for a steady stream
    batch_sizes: tuple[int, ...] = ()
    duration_ms: float | None = None
    measure: str | None = None  # a texts file: measure each batch size on the local layers
    price_per_gb_second: float | None = None
    price_per_100ms: float | None = None
    request_price: float | None = None
    granularity_ms: int | None = None
    ingests_per_day: float | None = None
    plot: str | None = None  # FILE.png of the monthly cost against ingests per day
    init_ms: float | None = None  # wins over the INIT --measure finds
    concurrency: int | None = None  # containers a cold ingest starts [shards x factor]
    shards: int | None = None
    records_per_second: float | None = None
    record_bytes: int | None = None
    provisioned_concurrency: int | None = None  # warm environments kept on the alias


@dataclass(frozen=True)
class Measured:
    """Warm ms per batch size, and the INIT of the cold starts (one per batch size)."""

    durations: dict[int, float]
    init_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class CostEstimate:
    """The prices applied and one row (or capacity plan) per batch size, with what
    they were computed for; ``init_from`` and ``concurrency_from`` say where those
    figures came from, for the reader."""

    records: int | None
    memory_mb: int
    arch: str
    endpoint_monthly: float
    ingests_per_day: float | None
    prices: pricing.Prices
    rows: list[pricing.CostRow]
    plans: list[pricing.CapacityPlan] = field(default_factory=list)
    records_per_second: float | None = None
    init_ms: float | None = None
    init_from: str | None = None  # "--init-ms" or "measured, median of N cold starts"
    concurrency: int | None = None  # cold starts per ingest (rows only)
    concurrency_from: str | None = None
    provisioned: int = 0  # environments provisioned on the alias
    provisioned_monthly: float = 0.0  # what they cost a month, before any request


def estimate(
    settings: Settings, request: CostRequest, on_message: Callable[[str], None]
) -> CostEstimate:
    """The cost rows (or capacity plans) of ``request``; measures first with
    --measure, plots last with --plot."""
    capacity = _check_mode(request)
    if (request.duration_ms is None) == (request.measure is None):
        raise UsageError("give either --duration-ms D or --measure TEXTS_FILE")
    prices = pricing.price_table(
        settings.arch,
        per_gb_second=request.price_per_gb_second,
        per_100ms=request.price_per_100ms,
        per_request=request.request_price,
        granularity_ms=request.granularity_ms,
    )
    if capacity:
        for size in request.batch_sizes:
            local.check_batch_size(size)  # the trigger's limit, before any measuring
    if request.duration_ms is not None:
        measured = Measured({size: request.duration_ms for size in request.batch_sizes})
    else:
        measured = measure(settings, Path(str(request.measure)), request.batch_sizes, on_message)
    init_ms, init_from = request.init_ms, "--init-ms" if request.init_ms is not None else None
    if init_ms is None and measured.init_ms:
        init_ms = statistics.median(measured.init_ms)
        init_from = f"measured, median of {len(measured.init_ms)} cold start(s)"
    if capacity:
        return _capacity(settings, request, prices, measured, init_ms, init_from)
    if init_ms is None and (request.concurrency or request.shards):
        flag = "--concurrency" if request.concurrency else "--shards"
        raise UsageError(f"{flag} counts cold starts: give their INIT with --init-ms MS")
    concurrency, concurrency_from = _concurrency(settings, request)
    rows = [
        pricing.cost_row(
            records=int(request.records or 0),
            batch_size=size,
            duration_ms=measured.durations[size],
            memory_mb=settings.memory,
            prices=prices,
            endpoint_monthly=settings.endpoint_monthly,
            ingests_per_day=request.ingests_per_day,
            init_ms=init_ms,
            concurrency=concurrency,
        )
        for size in request.batch_sizes
    ]
    if request.plot:
        from mlayer.plot import plot_monthly_cost  # matplotlib: only when asked

        plot = Path(request.plot)
        plot_monthly_cost(rows, settings.endpoint_monthly, plot, request.ingests_per_day)
        on_message(f"wrote {request.plot}")
    return CostEstimate(
        records=request.records,
        memory_mb=settings.memory,
        arch=settings.arch,
        endpoint_monthly=settings.endpoint_monthly,
        ingests_per_day=request.ingests_per_day,
        prices=prices,
        rows=rows,
        init_ms=init_ms,
        init_from=init_from,
        concurrency=concurrency if init_ms is not None else None,
        concurrency_from=concurrency_from if init_ms is not None else None,
        provisioned=request.provisioned_concurrency or 0,
        provisioned_monthly=pricing.provisioned_monthly(
            request.provisioned_concurrency or 0, settings.memory, settings.arch
        ),
    )


def _check_mode(request: CostRequest) -> bool:
    """True for a capacity plan (--records-per-second); refuses the flags of the
    other mode, before anything is measured."""
    if (request.records is None) == (request.records_per_second is None):
        raise UsageError(
            "give either --records N (an ingest of N records) or --records-per-second R "
            "(a steady stream)"
        )
    if request.records_per_second is None:
        if request.record_bytes is not None:
            raise UsageError("--record-bytes sizes the shards of --records-per-second; drop it")
        return False
    for flag, value in (
        ("--concurrency", request.concurrency),
        ("--ingests-per-day", request.ingests_per_day),
        ("--plot", request.plot),
    ):
        if value is not None:
            raise UsageError(
                f"{flag} is for an ingest of --records N, not --records-per-second "
                "(which works out the concurrency; --shards fixes the stream's shards)"
            )
    return True


def _concurrency(settings: Settings, request: CostRequest) -> tuple[int, str]:
    """Cold starts per ingest: --concurrency, else shards x parallelization factor."""
    if request.concurrency is not None:
        if request.shards is not None:
            raise UsageError("--concurrency and --shards exclude each other")
        return request.concurrency, "--concurrency"
    shards = request.shards or 1
    factor = settings.parallelization_factor
    return shards * factor, f"{shards} shard(s) x parallelization factor {factor}"


def _capacity(
    settings: Settings,
    request: CostRequest,
    prices: pricing.Prices,
    measured: Measured,
    init_ms: float | None,
    init_from: str | None,
) -> CostEstimate:
    plans = [
        pricing.capacity_plan(
            records_per_second=float(request.records_per_second or 0),
            batch_size=size,
            duration_ms=measured.durations[size],
            memory_mb=settings.memory,
            prices=prices,
            record_bytes=request.record_bytes or pricing.DEFAULT_RECORD_BYTES,
            shards=request.shards,
            init_ms=init_ms,
            endpoint_monthly=settings.endpoint_monthly,
        )
        for size in request.batch_sizes
    ]
    return CostEstimate(
        records=None,
        memory_mb=settings.memory,
        arch=settings.arch,
        endpoint_monthly=settings.endpoint_monthly,
        ingests_per_day=None,
        prices=prices,
        rows=[],
        plans=plans,
        records_per_second=request.records_per_second,
        init_ms=init_ms,
        init_from=init_from,
    )


def measure(
    settings: Settings,
    texts: Path,
    batch_sizes: tuple[int, ...],
    on_message: Callable[[str], None],
) -> Measured:
    """Per batch size, the warm duration of one invocation (the mean of three warm
    calls after a cold one) and the cold start's INIT, on the local build's layers."""
    lines = local.read_texts(texts)
    on_message(
        "measuring on this machine's CPU: Lambda gives a function a share of a vCPU in "
        f"proportion to memory (one at 1,769 MB), so at {settings.memory} MB expect longer, "
        "the INIT included"
    )
    layers = invoke.local_zips(settings, on_message=on_message)
    durations, inits = {}, []
    for size in batch_sizes:
        local.check_batch_size(size)
        # Enough records for one full batch, reusing the lines as needed.
        batch = [lines[i % len(lines)] for i in range(size)]
        events = local.kinesis_events(
            batch,
            batch_size=size,
            text_field=settings.text_field,
            text_is_json=settings.text_is_json,
        )
        invocation = invoke.run_local(settings, events, [layer.path for layer in layers], repeat=4)
        warm = [run["duration_ms"] for run in invocation.runs[1:]]
        durations[size] = sum(warm) / len(warm)
        inits.append(invocation.init_ms)
        on_message(
            f"batch {size}: warm {durations[size]:.1f} ms per invocation "
            f"(cold: init {invocation.init_ms:.0f} ms, first call "
            f"{invocation.runs[0]['duration_ms']:.0f} ms)"
        )
    return Measured(durations, inits)
