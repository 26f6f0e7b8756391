"""``mlayer cost --plot``: monthly cost against ingests per day, beside the endpoint.

matplotlib is an optional extra (``pip install 'mlayer[plot]'``); it is
imported only here, only when a plot is asked for.
"""

from __future__ import annotations

from pathlib import Path

from mlayer.cost import CostRow, monthly_cost
from mlayer.errors import UsageError


def plot_monthly_cost(
    rows: list[CostRow], endpoint_monthly: float, path: Path, ingests_per_day: float | None
) -> None:
    """One line per batch size, the flat endpoint price, and the break-even points."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; no display needed
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UsageError(
            "--plot needs matplotlib: pip install 'mlayer[plot]' (or matplotlib)"
        ) from exc
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot writes a PNG: name the file *.png, not {path.name}")
    # Up to twice the furthest break-even (or the given rate), so every crossing shows.
    furthest = max(row.breakeven_ingests_per_day for row in rows)
    limit = max(furthest * 2, (ingests_per_day or 0) * 1.2, 1.0)
    steps = [limit * i / 200 for i in range(201)]
    figure, axes = plt.subplots(figsize=(8, 5))
    for row in rows:
        axes.plot(
            steps, [monthly_cost(row, k) for k in steps], label=f"Lambda, batch {row.batch_size}"
        )
        if row.breakeven_ingests_per_day <= limit:
            axes.plot([row.breakeven_ingests_per_day], [endpoint_monthly], "o", color="grey")
    axes.axhline(
        endpoint_monthly,
        color="black",
        linestyle="--",
        label=f"endpoint ${endpoint_monthly:.2f}/month",
    )
    if ingests_per_day is not None:
        axes.axvline(
            ingests_per_day, color="grey", linestyle=":", label=f"{ingests_per_day:g} ingests/day"
        )
    axes.set_xlabel("ingests per day")
    axes.set_ylabel("USD per month")
    axes.set_ylim(0, endpoint_monthly * 2)
    axes.set_xlim(0, limit)
    axes.legend()
    axes.grid(alpha=0.3)
    try:
        figure.savefig(path, dpi=100, bbox_inches="tight")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc}") from exc
    finally:
        plt.close(figure)
