"""What serving a stream of ingests on Lambda costs, and where an endpoint wins (pure).

The seed article's arithmetic as functions: a price table, the billed duration
of one invocation, its cost, the cost of one ingest of N records split into
batches, and the break-even number of ingests against an always-on endpoint.
No I/O here: ``mlayer cost`` measures (if asked) and prints elsewhere.

A month is 30 days (720 hours), as in the seed: $0.07/h x 720 h = $50.40.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from mlayer.errors import UsageError

# Lambda's on-demand prices, us-east-1, first usage tier (the first 6 billion
# GB-s a month on x86_64, 7.5 billion on arm64); unchanged since 1 ms billing
# came in (December 2020). Every price can be overridden on the command line.
PRICES_TAKEN = "2026-11-25"
PRICE_PER_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_PER_REQUEST = 0.20 / 1_000_000
GRANULARITY_MS = 1  # Lambda has billed per millisecond since December 2020

# The seed's figures (January 2019): 100 ms billing (its price of 100 ms at
# 192 MB is given with --price-per-100ms); and the smallest SageMaker instance
# as the always-on alternative.
SEED_GRANULARITY_MS = 100
ENDPOINT_HOURLY = 0.07
HOURS_PER_MONTH = 720
DAYS_PER_MONTH = 30
ENDPOINT_MONTHLY = round(ENDPOINT_HOURLY * HOURS_PER_MONTH, 2)


@dataclass(frozen=True)
class Prices:
    """What one invocation is charged. ``per_100ms`` (if set) replaces the GB-s price."""

    per_gb_second: float
    per_request: float
    granularity_ms: int
    per_100ms: float | None = None
    taken: str = PRICES_TAKEN

    def describe(self, memory_mb: int) -> str:
        compute = (
            f"${self.per_100ms:.9f} per 100 ms at {memory_mb} MB"
            if self.per_100ms is not None
            else f"${self.per_gb_second:.10f} per GB-s"
        )
        return (
            f"{compute}, ${self.per_request * 1e6:.2f} per 1M requests, "
            f"billed per {self.granularity_ms} ms ("
            + ("compute price as given" if self.taken == "given" else f"prices of {self.taken}")
            + ")"
        )


def price_table(
    arch: str = "x86_64",
    *,
    per_gb_second: float | None = None,
    per_100ms: float | None = None,
    per_request: float | None = None,
    granularity_ms: int | None = None,
) -> Prices:
    """Today's prices for ``arch`` with any override applied.

    A per-100 ms price is how AWS listed Lambda before December 2020, when it
    also billed in 100 ms steps: giving one implies 100 ms granularity unless
    ``granularity_ms`` says otherwise.
    """
    if arch not in PRICE_PER_GB_SECOND:
        raise UsageError(f"no Lambda price for architecture {arch!r}; use x86_64 or arm64")
    if per_gb_second is not None and per_100ms is not None:
        raise UsageError("--price-per-gb-second and --price-per-100ms exclude each other")
    for name, value in (
        ("--price-per-gb-second", per_gb_second),
        ("--price-per-100ms", per_100ms),
        ("--request-price", per_request),
    ):
        if value is not None and value < 0:
            raise UsageError(f"{name} must not be negative, got {value}")
    if granularity_ms is None:
        granularity_ms = SEED_GRANULARITY_MS if per_100ms is not None else GRANULARITY_MS
    if granularity_ms not in (1, 100):
        raise UsageError(f"--granularity-ms must be 1 or 100, got {granularity_ms}")
    taken = PRICES_TAKEN if per_gb_second is None and per_100ms is None else "given"
    return Prices(
        per_gb_second=PRICE_PER_GB_SECOND[arch] if per_gb_second is None else per_gb_second,
        per_request=PRICE_PER_REQUEST if per_request is None else per_request,
        granularity_ms=granularity_ms,
        per_100ms=per_100ms,
        taken=taken,
    )


def billed_ms(duration_ms: float, granularity_ms: int) -> int:
    """Lambda rounds every invocation up to the next billing step."""
    if duration_ms <= 0:
        raise UsageError(f"duration must be positive, got {duration_ms} ms")
    # round() first: 4000.0000001 from float noise must not bill another step.
    steps = math.ceil(round(duration_ms / granularity_ms, 6))
    return max(1, steps) * granularity_ms


def cost_per_invocation(duration_ms: float, memory_mb: int, prices: Prices) -> float:
    billed = billed_ms(duration_ms, prices.granularity_ms)
    if prices.per_100ms is not None:
        compute = prices.per_100ms * billed / 100
    else:
        compute = prices.per_gb_second * (memory_mb / 1024) * (billed / 1000)
    return compute + prices.per_request


@dataclass(frozen=True)
class CostRow:
    """One batch size: what an ingest costs and how many ingests an endpoint is worth."""

    batch_size: int
    duration_ms: float
    billed_ms: int
    invocations_per_ingest: int
    cost_per_invocation: float
    cost_per_ingest: float
    breakeven_ingests_per_month: float
    monthly_cost: float | None  # at the given ingests per day, if any

    @property
    def breakeven_ingests_per_day(self) -> float:
        return self.breakeven_ingests_per_month / DAYS_PER_MONTH

    @property
    def breakeven_ingests_per_hour(self) -> float:
        return self.breakeven_ingests_per_month / HOURS_PER_MONTH

    def to_json(self) -> dict[str, float | int | None]:
        return {
            **dataclasses.asdict(self),
            "breakeven_ingests_per_day": self.breakeven_ingests_per_day,
            "breakeven_ingests_per_hour": self.breakeven_ingests_per_hour,
        }


def cost_row(
    *,
    records: int,
    batch_size: int,
    duration_ms: float,
    memory_mb: int,
    prices: Prices,
    endpoint_monthly: float = ENDPOINT_MONTHLY,
    ingests_per_day: float | None = None,
) -> CostRow:
    """The cost of ingesting ``records`` in batches of ``batch_size``."""
    if records <= 0:
        raise UsageError(f"--records must be positive, got {records}")
    if batch_size <= 0:
        raise UsageError(f"--batch-size must be positive, got {batch_size}")
    if memory_mb <= 0:
        raise UsageError(f"--memory must be positive, got {memory_mb}")
    if endpoint_monthly <= 0:
        raise UsageError(f"--endpoint-monthly must be positive, got {endpoint_monthly}")
    if ingests_per_day is not None and ingests_per_day < 0:
        raise UsageError(f"--ingests-per-day must not be negative, got {ingests_per_day}")
    invocations = math.ceil(records / batch_size)  # the last batch may be short
    per_invocation = cost_per_invocation(duration_ms, memory_mb, prices)
    per_ingest = invocations * per_invocation
    return CostRow(
        batch_size=batch_size,
        duration_ms=duration_ms,
        billed_ms=billed_ms(duration_ms, prices.granularity_ms),
        invocations_per_ingest=invocations,
        cost_per_invocation=per_invocation,
        cost_per_ingest=per_ingest,
        breakeven_ingests_per_month=endpoint_monthly / per_ingest,
        monthly_cost=(
            None if ingests_per_day is None else per_ingest * ingests_per_day * DAYS_PER_MONTH
        ),
    )


def monthly_cost(row: CostRow, ingests_per_day: float) -> float:
    """What ``ingests_per_day`` ingests cost over a month, for the plot."""
    return row.cost_per_ingest * ingests_per_day * DAYS_PER_MONTH
