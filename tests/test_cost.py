"""mlayer cost: the seed's arithmetic, the INIT of cold starts and the capacity plan of a
steady stream against hand-computed figures, and their refusals."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run

from mlayer import cost
from mlayer.errors import UsageError

SEED = ("--records", "50000", "--batch-size", "1", "--batch-size", "10", "--batch-size", "100")
SEED += ("--duration-ms", "4000", "--memory", "192", "--price-per-100ms", "0.000000313")
BOTH_PRICES = ("--price-per-gb-second", "1e-5", "--price-per-100ms", "3e-7")


# --- the arithmetic (pure) --------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "granularity", "billed"),
    [
        (4000, 100, 4000),  # already a whole step
        (3803, 100, 3900),  # the seed's 1-record batch: 3803 ms billed as 3900
        (3912, 100, 4000),  # the seed's 100-record batch
        (100.0000001, 100, 100),  # float noise does not bill another step
        (0.2, 1, 1),  # at least one step
        (1.0001, 1, 2),
        (3803.4, 1, 3804),
    ],
)
def test_billed_duration_rounds_up_to_the_step(duration, granularity, billed) -> None:
    assert cost.billed_ms(duration, granularity) == billed


def test_seed_per_100ms_price_at_4000_ms() -> None:
    prices = cost.price_table(per_100ms=0.000000313, per_request=0)
    assert prices.granularity_ms == 100  # the per-100 ms price implies 100 ms steps
    # 40 steps of 100 ms x $0.000000313
    assert cost.cost_per_invocation(4000, 192, prices) == pytest.approx(0.00001252)
    # 3803 ms bills 39 steps
    assert cost.cost_per_invocation(3803, 192, prices) == pytest.approx(39 * 0.000000313)


def test_gb_second_price_per_ms_and_per_request() -> None:
    prices = cost.price_table("x86_64")
    assert prices.granularity_ms == 1
    # 192 MB = 0.1875 GB; 4000 ms = 4 s; plus $0.20 per million requests
    expected = 0.1875 * 4 * 0.0000166667 + 0.0000002
    assert cost.cost_per_invocation(4000, 192, prices) == pytest.approx(expected)
    arm = cost.price_table("arm64")
    assert cost.cost_per_invocation(4000, 192, arm) == pytest.approx(
        0.1875 * 4 * 0.0000133334 + 0.0000002
    )


def test_100ms_granularity_with_the_gb_second_price() -> None:
    prices = cost.price_table(granularity_ms=100, per_request=0)
    # 250 ms bills 300 ms at 1024 MB: 0.3 GB-s
    assert cost.cost_per_invocation(250, 1024, prices) == pytest.approx(0.3 * 0.0000166667)


def test_ingest_and_breakeven_for_the_seed_case() -> None:
    prices = cost.price_table(per_100ms=0.000000313, per_request=0)
    rows = {
        size: cost.cost_row(
            records=50_000, batch_size=size, duration_ms=4000, memory_mb=192, prices=prices
        )
        for size in (1, 10, 100)
    }
    assert [rows[s].invocations_per_ingest for s in (1, 10, 100)] == [50_000, 5_000, 500]
    assert rows[1].cost_per_ingest == pytest.approx(0.626)
    assert rows[10].cost_per_ingest == pytest.approx(0.0626)
    assert rows[100].cost_per_ingest == pytest.approx(0.00626)
    # $50.40 / $0.00626 per ingest
    assert rows[100].breakeven_ingests_per_month == pytest.approx(8051.12, abs=0.01)
    assert rows[100].breakeven_ingests_per_day == pytest.approx(8051.12 / 30, abs=0.01)
    assert rows[100].breakeven_ingests_per_hour == pytest.approx(8051.12 / 720, abs=0.01)


def test_a_short_last_batch_is_still_an_invocation() -> None:
    prices = cost.price_table(per_request=0)
    row = cost.cost_row(records=250, batch_size=100, duration_ms=10, memory_mb=1024, prices=prices)
    assert row.invocations_per_ingest == 3
    row = cost.cost_row(
        records=250,
        batch_size=100,
        duration_ms=10,
        memory_mb=1024,
        prices=prices,
        ingests_per_day=4,
    )
    assert row.monthly_cost == pytest.approx(3 * 0.01 * 0.0000166667 * 4 * 30)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"records": 0},
        {"batch_size": 0},
        {"batch_size": -5},
        {"duration_ms": 0},
        {"duration_ms": -1},
        {"endpoint_monthly": 0},
    ],
)
def test_arithmetic_refuses_nonsense(kwargs) -> None:
    values = {"records": 10, "batch_size": 1, "duration_ms": 5, "memory_mb": 128}
    values.update(kwargs)
    with pytest.raises(UsageError):
        cost.cost_row(prices=cost.price_table(), **values)


def test_both_compute_prices_are_refused() -> None:
    with pytest.raises(UsageError, match="exclude each other"):
        cost.price_table(per_gb_second=0.00001, per_100ms=0.0000003)


# --- the command ------------------------------------------------------------------


def test_cost_json_rows_for_the_seed_inputs(project: Path) -> None:
    result = run("cost", *SEED, "--request-price", "0", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert [row["batch_size"] for row in rows] == [1, 10, 100]
    for row in rows:
        assert set(row) >= {
            "batch_size",
            "invocations_per_ingest",
            "cost_per_invocation",
            "cost_per_ingest",
            "breakeven_ingests_per_month",
        }
        assert row["cost_per_invocation"] == pytest.approx(0.00001252)
    assert [row["cost_per_ingest"] for row in rows] == pytest.approx([0.626, 0.0626, 0.00626])
    assert rows[2]["breakeven_ingests_per_month"] == pytest.approx(50.40 / 0.00626)


def test_cost_table_is_readable(project: Path) -> None:
    result = run("cost", *SEED, "--ingests-per-day", "3")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "BATCH" in line)
    assert "BREAK-EVEN" in header and "$/MONTH" in header
    batch_100 = next(line for line in lines if line.split() and line.split()[0] == "100")
    # default request price: $0.00001252 + $0.0000002 per invocation, 500 invocations
    assert "0.00001272" in batch_100 and "0.006360" in batch_100
    assert "$50.40" in result.stdout


def test_cost_endpoint_price_from_config(project: Path) -> None:
    (project / "mlayer.toml").write_text("endpoint-monthly = 100.80\n")
    result = run("cost", *SEED, "--request-price", "0", "--json")
    rows = json.loads(result.stdout)["rows"]
    assert rows[2]["breakeven_ingests_per_month"] == pytest.approx(100.80 / 0.00626)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--batch-size", "0", "--duration-ms", "100"), "--batch-size"),
        (("--batch-size", "-3", "--duration-ms", "100"), "--batch-size"),
        (("--batch-size", "10", "--duration-ms", "0"), "duration"),
        (("--batch-size", "10", "--duration-ms", "-40"), "duration"),
        (("--batch-size", "10"), "--duration-ms"),
        (("--batch-size", "10", "--duration-ms", "5", "--granularity-ms", "10"), "1 or 100"),
        (
            ("--batch-size", "10", "--duration-ms", "5", *BOTH_PRICES),
            "exclude each other",
        ),
    ],
)
def test_cost_bad_input_is_one_line(project: Path, args: tuple[str, ...], fragment: str) -> None:
    assert_one_line_error(run("cost", "--records", "1000", *args), fragment)


def test_cost_plot_writes_a_png(project: Path) -> None:
    pytest.importorskip("matplotlib")
    result = run("cost", *SEED, "--plot", "cost.png", "--ingests-per-day", "100")
    assert result.exit_code == 0, result.stderr
    assert (project / "cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- INIT: the cold starts of an ingest (pure) ----------------------------------------


def test_a_cold_start_bills_init_and_duration_rounded_up_once() -> None:
    seed = cost.price_table(per_100ms=0.000000313, per_request=0)
    # 4000 + 1500 ms bills 55 steps instead of 40: 15 more at the seed's price
    assert cost.init_cost(1500, 4000, 192, seed) == pytest.approx(15 * 0.000000313)
    today = cost.price_table(per_request=0)
    # ceil(0.4 + 450.3) = 451 ms billed instead of ceil(0.4) = 1 ms: 450 ms more at 1 GB
    assert cost.init_cost(450.3, 0.4, 1024, today) == pytest.approx(0.450 * 0.0000166667)
    # the request is paid once, cold or warm
    assert cost.init_cost(450.3, 0.4, 1024, cost.price_table()) == pytest.approx(
        0.450 * 0.0000166667
    )
    assert cost.init_cost(0, 4000, 192, seed) == 0


def test_seed_inputs_with_init_1500_ms_and_4_containers() -> None:
    prices = cost.price_table(per_100ms=0.000000313)  # with the request price
    rows = {
        size: cost.cost_row(
            records=50_000, batch_size=size, duration_ms=4000, memory_mb=192, prices=prices,
            init_ms=1500, concurrency=4,
        )
        for size in (1, 10, 100)
    }  # fmt: skip
    init = 4 * 15 * 0.000000313  # 4 cold starts, each 15 more 100 ms steps
    for size, invocations in ((1, 50_000), (10, 5_000), (100, 500)):
        row = rows[size]
        assert row.cold_starts_per_ingest == 4
        assert row.init_cost_per_ingest == pytest.approx(init)
        assert row.cost_per_ingest == pytest.approx(invocations * 0.00001272 + init)
        assert row.init_share == pytest.approx(init / (invocations * 0.00001272 + init))
    # batch 100: $0.00001878 of $0.00637878, 0.29 %
    assert rows[100].init_share == pytest.approx(0.002944, abs=1e-6)
    assert rows[100].breakeven_ingests_per_month == pytest.approx(50.40 / 0.00637878)


def test_init_matters_when_the_warm_call_is_short() -> None:
    # mlayer's handler: a 100-record batch in about 1 ms, the model loaded at INIT
    prices = cost.price_table()
    row = cost.cost_row(
        records=50_000, batch_size=100, duration_ms=1, memory_mb=192, prices=prices,
        init_ms=1500, concurrency=4,
    )  # fmt: skip
    gb = 192 / 1024
    warm = 500 * (gb * 0.001 * 0.0000166667 + 0.0000002)
    init = 4 * gb * 1.5 * 0.0000166667
    assert row.cost_per_ingest == pytest.approx(warm + init)
    assert row.init_share == pytest.approx(init / (warm + init))
    assert 0.15 < row.init_share < 0.16


def test_no_more_cold_starts_than_invocations_and_none_without_init() -> None:
    prices = cost.price_table(per_request=0)
    row = cost.cost_row(
        records=250, batch_size=100, duration_ms=10, memory_mb=1024, prices=prices,
        init_ms=500, concurrency=10,
    )  # fmt: skip
    assert row.cold_starts_per_ingest == 3  # 3 invocations start at most 3 containers
    assert row.init_cost_per_ingest == pytest.approx(3 * 0.5 * 0.0000166667)
    plain = cost.cost_row(
        records=250, batch_size=100, duration_ms=10, memory_mb=1024, prices=prices
    )
    assert plain.init_share is None and plain.cold_starts_per_ingest == 0
    assert plain.cost_per_ingest == pytest.approx(3 * 0.01 * 0.0000166667)
    assert plain.to_json()["init_share"] is None


@pytest.mark.parametrize(
    ("kwargs", "fragment"), [({"init_ms": -1}, "--init-ms"), ({"concurrency": 0}, "--concurrency")]
)
def test_init_refuses_nonsense(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        cost.cost_row(
            records=10, batch_size=1, duration_ms=5, memory_mb=128, prices=cost.price_table(),
            **kwargs,
        )  # fmt: skip


# --- the capacity plan of a steady stream (pure) -------------------------------------


def plan(**kwargs: float) -> cost.CapacityPlan:
    values: dict[str, float] = {
        "records_per_second": 10_000, "batch_size": 500, "duration_ms": 3.6, "memory_mb": 1769,
    }  # fmt: skip
    values.update(kwargs)
    return cost.capacity_plan(prices=cost.price_table(), **values)  # type: ignore[arg-type]


def test_10000_records_a_second_in_batches_of_500() -> None:
    p = plan(init_ms=450)
    # 10,000 records/s: 10 shards by records; 10,000 x 1,024 B = 9.8 MiB/s: 10 by bytes too
    assert (p.shards_for_records, p.shards_for_bytes) == (10, 10)
    assert p.shards == 10 and p.binds == "records"  # the first of equal limits
    # 20 batches a second of 3.6 ms: 0.072 running at once; one per shard is room enough
    assert p.busy == pytest.approx(0.072)
    assert p.parallelization_factor == 1 and p.concurrency == 10
    assert p.invocations_per_month == pytest.approx(20 * 2_592_000)
    # 1769 MB = 1.7275 GB, 4 ms billed, plus $0.20 per million requests
    per_invocation = 1769 / 1024 * 0.004 * 0.0000166667 + 0.0000002
    assert p.cost_per_invocation == pytest.approx(per_invocation)
    assert p.monthly_cost == pytest.approx(51_840_000 * per_invocation)
    assert p.monthly_cost == pytest.approx(16.34, abs=0.005)
    assert p.versus_endpoint == pytest.approx(p.monthly_cost / 50.40)
    # INIT of all 10 containers once: ceil(3.6 + 450) - ceil(3.6) = 450 ms each
    assert p.init_cost_per_start == pytest.approx(10 * 1769 / 1024 * 0.450 * 0.0000166667)
    assert p.batches_fill  # 1,000 records a second a shard fill a batch of 500


def test_large_records_make_the_bytes_limit_bind() -> None:
    p = plan(record_bytes=4096)
    # 10,000 x 4,096 B = 39.06 MiB/s: 40 shards
    assert (p.shards, p.binds, p.shards_for_records, p.shards_for_bytes) == (40, "bytes", 10, 40)


def test_slow_batches_make_processing_bind() -> None:
    # 1,000 records/s in batches of 10 taking 200 ms: 100 batches a second, 20 at once
    p = plan(records_per_second=1000, batch_size=10, duration_ms=200)
    assert p.busy == pytest.approx(20)
    # 2 shards x factor 10 would be exactly 20: no room, so 3 shards
    assert (p.shards, p.binds, p.shards_for_processing) == (3, "processing", 3)
    assert p.parallelization_factor == 7 and p.concurrency == 21  # 20 / 3 = 6.7 -> 7
    assert p.utilisation == pytest.approx(20 / 21)


def test_a_factor_leaves_room_above_busy() -> None:
    # 10 shards with exactly one batch each running at once on average: factor 2
    p = plan(batch_size=1, duration_ms=1)
    assert p.busy == pytest.approx(10) and p.shards == 10
    assert p.parallelization_factor == 2 and p.concurrency == 20


def test_given_shards_are_kept_or_refused() -> None:
    assert plan(shards=25).shards == 25 and plan(shards=25).binds == "given"
    with pytest.raises(
        UsageError, match=r"--shards 5 take in at most 5,000 records/s.*at least 10"
    ):
        plan(shards=5)
    with pytest.raises(UsageError, match=r"--shards 20 take in at most 20 MiB/s.*at least 40"):
        plan(shards=20, record_bytes=4096)
    with pytest.raises(UsageError, match=r"20.0 batches running at once.*at least 3 shards"):
        plan(records_per_second=1000, batch_size=10, duration_ms=200, shards=2)


def test_a_batch_a_shard_does_not_fill_is_said() -> None:
    assert not plan(batch_size=5000).batches_fill  # 1,000 records a second a shard


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"records_per_second": 0}, "--records-per-second"),
        ({"records_per_second": -10}, "--records-per-second"),
        ({"record_bytes": 0}, "--record-bytes"),
        ({"record_bytes": 2_000_000}, "--record-bytes"),
        ({"batch_size": 0}, "--batch-size"),
        ({"duration_ms": 0}, "duration"),
    ],
)
def test_capacity_refuses_nonsense(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        plan(**kwargs)


# --- the command: INIT and the capacity plan ------------------------------------------


def test_cost_with_init_and_concurrency_shows_the_init_share(project: Path) -> None:
    result = run("cost", *SEED, "--init-ms", "1500", "--concurrency", "4")
    assert result.exit_code == 0, result.stderr
    assert (
        "INIT 1,500 ms per cold start (--init-ms), 4 cold start(s) per ingest (--concurrency)"
        in result.stdout
    )
    header = next(line for line in result.stdout.splitlines() if "BATCH" in line)
    assert "INIT $/INGEST" in header and "INIT %" in header
    batch_100 = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["100"])
    assert batch_100.split()[-2:] == ["0.00001878", "0.29%"]
    data = json.loads(
        run("cost", *SEED, "--init-ms", "1500", "--concurrency", "4", "--json").stdout
    )
    assert data["init_ms"] == 1500 and data["cold_starts_per_ingest"] == 4
    assert [row["init_share"] for row in data["rows"]] == pytest.approx(
        [0.00001878 / (i * 0.00001272 + 0.00001878) for i in (50_000, 5_000, 500)]
    )


def test_cold_starts_default_to_shards_times_the_parallelization_factor(project: Path) -> None:
    (project / "mlayer.toml").write_text("parallelization-factor = 3\n")
    data = json.loads(run("cost", *SEED, "--init-ms", "1500", "--shards", "2", "--json").stdout)
    assert data["cold_starts_per_ingest"] == 6
    assert data["rows"][0]["init_cost_per_ingest"] == pytest.approx(6 * 15 * 0.000000313)
    text = run("cost", *SEED, "--init-ms", "1500", "--shards", "2").stdout
    assert "6 cold start(s) per ingest (2 shard(s) x parallelization factor 3)" in text


def test_without_init_the_init_columns_say_not_counted(project: Path) -> None:
    result = run("cost", *SEED)
    batch_1 = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["1"])
    assert batch_1.split()[-2:] == ["-", "-"]
    assert json.loads(run("cost", *SEED, "--json").stdout)["rows"][0]["init_share"] is None


CAPACITY = ("--records-per-second", "10000", "--batch-size", "500", "--duration-ms", "3.6")
CAPACITY += ("--memory", "1769")
CONCURRENCY_AND_SHARDS = ("--init-ms", "1", "--concurrency", "2", "--shards", "2")


def test_capacity_plan_json(project: Path) -> None:
    data = json.loads(run("cost", *CAPACITY, "--init-ms", "450", "--json").stdout)
    (p,) = data["plans"]
    assert (p["shards"], p["binds"], p["parallelization_factor"], p["concurrency"]) == (
        10, "records", 1, 10,
    )  # fmt: skip
    assert p["binding_limit"] == "1,000 records/s in per shard"
    assert p["monthly_cost"] == pytest.approx(16.34, abs=0.005)
    assert p["endpoint_monthly"] == 50.40 and p["versus_endpoint"] == pytest.approx(
        16.34 / 50.4, abs=1e-3
    )
    assert p["init_cost_per_start"] > 0 and data["notes"] == []


def test_capacity_plan_table(project: Path) -> None:
    result = run("cost", *CAPACITY, "--batch-size", "5000")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("10,000 records/s of 1,024 bytes, 1769 MB, x86_64: ")
    header = next(line for line in lines if "BATCH" in line)
    assert header.split()[:6] == ["BATCH", "WARM", "MS", "SHARDS", "SET", "BY"]
    row = next(line for line in lines if line.split()[:1] == ["500"])
    assert row.split()[:6] == ["500", "3.60", "10", "records", "1", "10"]
    assert row.split()[-2:] == ["16.34", "0.32x"]
    assert any(
        line.startswith("note: batch 5000: a shard takes in 1,000 records") for line in lines
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--records", "10", *CAPACITY), "either --records N"),
        (("--batch-size", "10", "--duration-ms", "5"), "either --records N"),
        ((*CAPACITY, "--shards", "5"), "use at least 10 shards"),
        ((*CAPACITY, "--concurrency", "4"), "--concurrency is for an ingest of --records N"),
        ((*CAPACITY, "--ingests-per-day", "4"), "--ingests-per-day is for an ingest"),
        ((*CAPACITY, "--batch-size", "20000"), "between 1 and 10000"),
        (
            ("--records", "10", "--batch-size", "10", "--duration-ms", "5", "--concurrency", "4"),
            "--concurrency counts cold starts: give their INIT with --init-ms",
        ),
        (
            ("--records", "10", "--batch-size", "1", "--duration-ms", "5", "--record-bytes", "9"),
            "--record-bytes",
        ),
        (
            ("--records", "10", "--batch-size", "1", "--duration-ms", "5", *CONCURRENCY_AND_SHARDS),
            "exclude each other",
        ),
    ],
)
def test_cost_scale_bad_input_is_one_line(
    project: Path, args: tuple[str, ...], fragment: str
) -> None:
    assert_one_line_error(run("cost", *args), fragment)


@pytest.mark.parametrize(
    "args",
    [
        ("--records-per-second", "-5"),
        ("--records-per-second", "0"),
        ("--init-ms", "-1"),
        ("--concurrency", "0"),
        ("--shards", "0"),
        ("--record-bytes", "2000000"),
    ],
)
def test_negative_and_zero_values_are_refused_by_the_option(
    project: Path, args: tuple[str, ...]
) -> None:
    result = run("cost", "--batch-size", "10", "--duration-ms", "5", *args)
    assert result.exit_code == 2
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert args[0] in error, error


# --- --measure takes the INIT of the cold starts too ------------------------------------

SLOW_INIT_HANDLER = """
import time

time.sleep(0.25)  # Lambda's INIT: the import of the handler module


def lambda_handler(event, context):
    # some work, so that a warm call takes more than the timer's 0.01 ms
    return {"records": len(event["Records"]), "work": sum(range(200_000))}
"""


def test_measure_takes_the_init_of_the_local_cold_starts(project: Path) -> None:
    """A handler whose import sleeps 250 ms, on two tiny layers: the INIT measured
    (at least the sleep; the median of one cold start per batch size) is counted."""
    (project / "handler").mkdir()
    (project / "handler" / "mlayer_handler.py").write_text(SLOW_INIT_HANDLER)
    (project / "build").mkdir()
    for name, entry in (("deps-layer.zip", "python/marker.py"), ("model-layer.zip", "m/x")):
        with zipfile.ZipFile(project / "build" / name, "w") as archive:
            archive.writestr(entry, "")
    (project / "mlayer.toml").write_text('handler-dir = "handler"\n')
    (project / "texts.txt").write_text("great\nawful\n")
    result = run(
        "cost", "--records", "100", "--batch-size", "1", "--batch-size", "10",
        "--measure", "texts.txt", "--shards", "2", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["init_from"] == "measured, median of 2 cold start(s)"
    assert data["init_ms"] >= 250
    assert data["cold_starts_per_ingest"] == 2  # 2 shards x parallelization factor 1
    prices = cost.price_table()
    for row in data["rows"]:
        expected = 2 * cost.init_cost(data["init_ms"], row["duration_ms"], 192, prices)
        assert row["init_cost_per_ingest"] == pytest.approx(expected)
    assert "batch 10: warm" in result.stderr
    # --init-ms wins over the measured INIT
    given = json.loads(
        run("cost", "--records", "100", "--batch-size", "1", "--measure", "texts.txt",
            "--init-ms", "7", "--json").stdout
    )  # fmt: skip
    assert (given["init_ms"], given["init_from"]) == (7, "--init-ms")


def test_provisioned_concurrency_is_priced_per_environment_and_month() -> None:
    """1 GB for 30 days (the module's month) at us-east-1's $0.0000041667/GB-s."""
    from mlayer.cost import provisioned_monthly

    assert provisioned_monthly(1, 1024, "x86_64") == pytest.approx(720 * 3600 * 0.0000041667)
    assert provisioned_monthly(4, 192, "arm64") == pytest.approx(
        4 * 0.1875 * 720 * 3600 * 0.0000033334
    )
    assert provisioned_monthly(0, 1024, "x86_64") == 0
