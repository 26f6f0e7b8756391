"""mlayer cost: the durations (given, or measured on the local layers), the prices,
one cost row per batch size, and the plot if asked.

The arithmetic and the price table are ``mlayer.cost`` (pure); this module only
wires them to the request, the measurement and the plot file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlayer import cost as pricing
from mlayer.errors import UsageError
from mlayer.ops import invoke
from mlayer.settings import Settings


@dataclass(frozen=True)
class CostRequest:
    """What ``mlayer cost`` was asked: its own flags, by their names (memory, arch
    and the endpoint's price are settings)."""

    records: int
    batch_sizes: tuple[int, ...]
    duration_ms: float | None = None
    measure: str | None = None  # a texts file: measure each batch size on the local layers
    price_per_gb_second: float | None = None
    price_per_100ms: float | None = None
    request_price: float | None = None
    granularity_ms: int | None = None
    ingests_per_day: float | None = None
    plot: str | None = None  # FILE.png of the monthly cost against ingests per day


@dataclass(frozen=True)
class CostEstimate:
    """The prices applied and one row per batch size, with what they were computed for."""

    records: int
    memory_mb: int
    arch: str
    endpoint_monthly: float
    ingests_per_day: float | None
    prices: pricing.Prices
    rows: list[pricing.CostRow]


def estimate(
    settings: Settings, request: CostRequest, on_message: Callable[[str], None]
) -> CostEstimate:
    """The cost rows of ``request``; measures first with --measure, plots last with --plot."""
    if (request.duration_ms is None) == (request.measure is None):
        raise UsageError("give either --duration-ms D or --measure TEXTS_FILE")
    prices = pricing.price_table(
        settings.arch,
        per_gb_second=request.price_per_gb_second,
        per_100ms=request.price_per_100ms,
        per_request=request.request_price,
        granularity_ms=request.granularity_ms,
    )
    if request.duration_ms is not None:
        durations = {size: request.duration_ms for size in request.batch_sizes}
    else:
        durations = invoke.measure_durations(
            settings, Path(str(request.measure)), request.batch_sizes, on_message
        )
    rows = [
        pricing.cost_row(
            records=request.records,
            batch_size=size,
            duration_ms=durations[size],
            memory_mb=settings.memory,
            prices=prices,
            endpoint_monthly=settings.endpoint_monthly,
            ingests_per_day=request.ingests_per_day,
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
    )
