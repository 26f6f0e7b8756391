"""What serving a stream of ingests on Lambda costs, and where an endpoint wins (pure).

The seed article's arithmetic as functions: a price table, the billed duration
of one invocation, its cost, the cost of one ingest of N records split into
batches (with the INIT phase of its cold starts), and the break-even number of
ingests against an always-on endpoint; and the capacity plan of a steady stream
of R records a second: Kinesis shards, parallelization factor, concurrency and
the monthly cost. No I/O here: ``mlayer cost`` measures (if asked) and prints
elsewhere.

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
# Provisioned concurrency: per GB-second an environment is provisioned, used or
# not; the requests it serves pay a lower duration price (the rows price them
# on demand, an upper bound).
PROVISIONED_PER_GB_SECOND = {"x86_64": 0.0000041667, "arm64": 0.0000033334}
GRANULARITY_MS = 1  # Lambda has billed per millisecond since December 2020

# The seed's figures (January 2019): 100 ms billing (its price of 100 ms at
# 192 MB is given with --price-per-100ms); and the smallest SageMaker instance
# as the always-on alternative.
SEED_GRANULARITY_MS = 100
ENDPOINT_HOURLY = 0.07
HOURS_PER_MONTH = 720
DAYS_PER_MONTH = 30
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
ENDPOINT_MONTHLY = round(ENDPOINT_HOURLY * HOURS_PER_MONTH, 2)

# Since 1 August 2025 Lambda bills the INIT phase of on-demand functions packaged
# as a zip on managed runtimes at the duration rate: a cold invocation bills
# ceil(init + duration), a warm one ceil(duration).
INIT_BILLED_SINCE = "2025-08-01"

# Kinesis Data Streams, provisioned mode: what one shard takes in, a second.
SHARD_RECORDS_PER_SECOND = 1_000
SHARD_BYTES_PER_SECOND = 1_048_576  # 1 MiB
MAX_RECORD_BYTES = 1_048_576  # a record's data blob and partition key
DEFAULT_RECORD_BYTES = 1_024
# Lambda's Kinesis trigger: concurrent batches per shard (ParallelizationFactor).
MAX_PARALLELIZATION_FACTOR = 10
# Lambda's default concurrency quota per account and region (raised on request).
DEFAULT_ACCOUNT_CONCURRENCY = 1_000


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


def init_cost(init_ms: float, duration_ms: float, memory_mb: int, prices: Prices) -> float:
    """What one cold start adds to its invocation: it bills init + duration as one
    duration, rounded up once, at the same rate (and no second request)."""
    if init_ms < 0:
        raise UsageError(f"--init-ms must not be negative, got {init_ms}")
    if init_ms == 0:
        return 0.0
    cold = cost_per_invocation(duration_ms + init_ms, memory_mb, prices)
    return cold - cost_per_invocation(duration_ms, memory_mb, prices)


@dataclass(frozen=True)
class CostRow:
    """One batch size: what an ingest costs and how many ingests an endpoint is worth.

    ``cost_per_invocation`` is a warm one; ``cost_per_ingest`` counts every
    invocation plus the INIT of its cold starts (``init_cost_per_ingest``, zero
    when no INIT was given).
    """

    batch_size: int
    duration_ms: float
    billed_ms: int
    invocations_per_ingest: int
    cost_per_invocation: float
    cost_per_ingest: float
    breakeven_ingests_per_month: float
    monthly_cost: float | None  # at the given ingests per day, if any
    init_ms: float | None = None
    cold_starts_per_ingest: int = 0
    init_cost_per_ingest: float = 0.0

    @property
    def init_share(self) -> float | None:
        """INIT's part of the cost of an ingest (0..1), or None when INIT is not counted."""
        return None if self.init_ms is None else self.init_cost_per_ingest / self.cost_per_ingest

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
            "init_share": self.init_share,
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
    init_ms: float | None = None,
    concurrency: int = 1,
) -> CostRow:
    """The cost of ingesting ``records`` in batches of ``batch_size``.

    With ``init_ms``, each ingest also pays one INIT per concurrent container
    (``concurrency``: shards x parallelization factor), as when the containers of
    the previous ingest are gone; an ingest of fewer invocations starts fewer.
    """
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
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {concurrency}")
    invocations = math.ceil(records / batch_size)  # the last batch may be short
    per_invocation = cost_per_invocation(duration_ms, memory_mb, prices)
    cold_starts = 0 if init_ms is None else min(concurrency, invocations)
    init_per_ingest = (
        0.0 if init_ms is None else cold_starts * init_cost(init_ms, duration_ms, memory_mb, prices)
    )
    per_ingest = invocations * per_invocation + init_per_ingest
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
        init_ms=init_ms,
        cold_starts_per_ingest=cold_starts,
        init_cost_per_ingest=init_per_ingest,
    )


def monthly_cost(row: CostRow, ingests_per_day: float) -> float:
    """What ``ingests_per_day`` ingests cost over a month, for the plot."""
    return row.cost_per_ingest * ingests_per_day * DAYS_PER_MONTH


# --- a steady stream: the capacity plan ---------------------------------------------

BINDING_LIMITS = {
    "records": f"{SHARD_RECORDS_PER_SECOND:,} records/s in per shard",
    "bytes": "1 MiB/s in per shard",
    "processing": f"parallelization factor at most {MAX_PARALLELIZATION_FACTOR}",
    "given": "--shards",
}


@dataclass(frozen=True)
class CapacityPlan:
    """What keeps up with ``records_per_second`` in batches of ``batch_size`` that
    take ``duration_ms`` warm, so that the trigger's IteratorAge stays flat.

    ``busy`` is Little's law: R / B batches arrive a second and each keeps a
    container ``duration_ms``, so R x D / (1000 x B) run at once on average. Each
    shard runs up to ``parallelization_factor`` batches at once; the plan asks for
    strictly more room than ``busy`` (a queue served at exactly its arrival rate
    grows without bound). Batches are taken as full: the cost is of R / B
    invocations a second.
    """

    records_per_second: float
    record_bytes: int
    batch_size: int
    duration_ms: float
    shards_for_records: int
    shards_for_bytes: int
    shards_for_processing: int
    busy: float
    shards: int
    binds: str  # a key of BINDING_LIMITS: what set the number of shards
    parallelization_factor: int
    concurrency: int  # shards x parallelization factor: the most batches at once
    invocations_per_month: float
    cost_per_invocation: float
    monthly_cost: float
    endpoint_monthly: float
    init_ms: float | None = None
    init_cost_per_start: float | None = None  # every container starting cold once

    @property
    def utilisation(self) -> float:
        """The share of the concurrency that is busy on average (below 1)."""
        return self.busy / self.concurrency

    @property
    def batches_fill(self) -> bool:
        """Whether a shard takes in a full batch a second. When it does not, the
        trigger (no batching window: it invokes as soon as records are there) sends
        smaller batches, more of them than planned."""
        return self.records_per_second / self.shards >= self.batch_size

    @property
    def versus_endpoint(self) -> float:
        """Lambda's monthly cost over the endpoint's (below 1: Lambda is cheaper)."""
        return self.monthly_cost / self.endpoint_monthly

    def to_json(self) -> dict[str, float | int | str | bool | None]:
        return {
            **dataclasses.asdict(self),
            "binding_limit": BINDING_LIMITS[self.binds],
            "utilisation": self.utilisation,
            "batches_fill": self.batches_fill,
            "versus_endpoint": self.versus_endpoint,
        }


def capacity_plan(
    *,
    records_per_second: float,
    batch_size: int,
    duration_ms: float,
    memory_mb: int,
    prices: Prices,
    record_bytes: int = DEFAULT_RECORD_BYTES,
    shards: int | None = None,
    init_ms: float | None = None,
    endpoint_monthly: float = ENDPOINT_MONTHLY,
) -> CapacityPlan:
    """Shards, parallelization factor and concurrency for a steady stream, and its
    monthly cost. ``shards`` fixes the stream's shard count (an existing stream);
    without it, the fewest shards that take the stream in and keep up."""
    if records_per_second <= 0:
        raise UsageError(f"--records-per-second must be positive, got {records_per_second}")
    if not 1 <= record_bytes <= MAX_RECORD_BYTES:
        raise UsageError(
            f"--record-bytes must be between 1 and {MAX_RECORD_BYTES:,} (Kinesis's largest "
            f"record), got {record_bytes}"
        )
    if batch_size <= 0:  # the trigger's upper limit is checked with local.check_batch_size
        raise UsageError(f"--batch-size must be positive, got {batch_size}")
    if memory_mb <= 0:
        raise UsageError(f"--memory must be positive, got {memory_mb}")
    if endpoint_monthly <= 0:
        raise UsageError(f"--endpoint-monthly must be positive, got {endpoint_monthly}")
    per_invocation = cost_per_invocation(duration_ms, memory_mb, prices)  # refuses D <= 0
    for_records = math.ceil(records_per_second / SHARD_RECORDS_PER_SECOND)
    for_bytes = math.ceil(records_per_second * record_bytes / SHARD_BYTES_PER_SECOND)
    busy = records_per_second * duration_ms / (1000 * batch_size)
    # Strictly more room than busy: floor + 1, not ceil.
    for_processing = math.floor(busy / MAX_PARALLELIZATION_FACTOR) + 1
    if shards is None:
        needs = {"records": for_records, "bytes": for_bytes, "processing": for_processing}
        binds = max(needs, key=lambda limit: needs[limit])  # the first of equals
        shards = needs[binds]
    else:
        binds = "given"
        _check_given_shards(shards, records_per_second, record_bytes, for_records, for_bytes)
        if shards < for_processing:
            raise UsageError(
                f"--records-per-second {records_per_second:g} in batches of {batch_size} "
                f"taking {duration_ms:g} ms keeps {busy:,.1f} batches running at once: "
                f"{shards} shard(s) run at most {shards * MAX_PARALLELIZATION_FACTOR} "
                f"(parallelization factor {MAX_PARALLELIZATION_FACTOR}); use at least "
                f"{for_processing} shards, or a larger --batch-size"
            )
    factor = math.floor(busy / shards) + 1
    invocations = records_per_second / batch_size * SECONDS_PER_MONTH
    concurrency = shards * factor
    return CapacityPlan(
        records_per_second=records_per_second,
        record_bytes=record_bytes,
        batch_size=batch_size,
        duration_ms=duration_ms,
        shards_for_records=for_records,
        shards_for_bytes=for_bytes,
        shards_for_processing=for_processing,
        busy=busy,
        shards=shards,
        binds=binds,
        parallelization_factor=factor,
        concurrency=concurrency,
        invocations_per_month=invocations,
        cost_per_invocation=per_invocation,
        monthly_cost=invocations * per_invocation,
        endpoint_monthly=endpoint_monthly,
        init_ms=init_ms,
        init_cost_per_start=(
            None
            if init_ms is None
            else concurrency * init_cost(init_ms, duration_ms, memory_mb, prices)
        ),
    )


def _check_given_shards(
    shards: int, records_per_second: float, record_bytes: int, for_records: int, for_bytes: int
) -> None:
    if shards < 1:
        raise UsageError(f"--shards must be at least 1, got {shards}")
    if shards < max(for_records, for_bytes):
        limit = "records" if for_records >= for_bytes else "bytes"
        raise UsageError(
            f"--shards {shards} take in at most "
            + (
                f"{shards * SHARD_RECORDS_PER_SECOND:,} records/s"
                if limit == "records"
                else f"{shards} MiB/s ({record_bytes:,}-byte records)"
            )
            + f" but --records-per-second is {records_per_second:g}: use at least "
            f"{max(for_records, for_bytes)} shards ({BINDING_LIMITS[limit]})"
        )


def provisioned_monthly(count: int, memory_mb: int, arch: str) -> float:
    """What ``count`` environments provisioned all month cost, before any request."""
    if arch not in PROVISIONED_PER_GB_SECOND:
        raise UsageError(f"no Lambda price for architecture {arch!r}; use x86_64 or arm64")
    gb_seconds = count * (memory_mb / 1024) * SECONDS_PER_MONTH  # the module's 30-day month
    return gb_seconds * PROVISIONED_PER_GB_SECOND[arch]
