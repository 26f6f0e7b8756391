"""mlayer cost: the seed's arithmetic against hand-computed figures, and its refusals."""

from __future__ import annotations

import json
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
