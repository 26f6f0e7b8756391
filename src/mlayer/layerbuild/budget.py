"""Lambda's size limits applied to a deps layer and a function (pure arithmetic, no I/O).

The function and all its layers together may hold 262,144,000 bytes unzipped;
a zip over 50 MB cannot be uploaded directly and goes through S3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

UNZIPPED_LIMIT = 262_144_000
# A layer zip up to this size can be sent in the PublishLayerVersion request
# itself; anything larger must be uploaded to S3 first (Lambda quotas).
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024


@dataclass(frozen=True)
class LayerBudget:
    unzipped_bytes: int
    zipped_bytes: int
    reserved_bytes: int  # the model layer and the function, which share the limit

    @property
    def allowed_bytes(self) -> int:
        return UNZIPPED_LIMIT - self.reserved_bytes

    @property
    def headroom_bytes(self) -> int:
        return self.allowed_bytes - self.unzipped_bytes

    @property
    def fits(self) -> bool:
        return self.headroom_bytes >= 0

    @property
    def upload(self) -> str:
        """``direct`` when the zip fits Lambda's direct upload, else ``s3``."""
        return "direct" if self.zipped_bytes <= DIRECT_UPLOAD_LIMIT else "s3"

    def summary(self) -> str:
        verb = "left" if self.fits else "over"
        return (
            f"{self.unzipped_bytes / 1e6:.1f} MB unzipped of {self.allowed_bytes / 1e6:.1f} MB "
            f"allowed ({abs(self.headroom_bytes) / 1e6:.1f} MB {verb}; "
            f"{self.reserved_bytes / 1e6:.1f} MB kept for the model layer and function); "
            f"{self.zipped_bytes / 1e6:.1f} MB zipped: "
            + ("direct upload" if self.upload == "direct" else "over 50 MB, uploads through S3")
        )


def largest(sizes: Mapping[str, int], count: int = 5) -> list[tuple[str, int]]:
    return sorted(sizes.items(), key=lambda item: -item[1])[:count]


def size_lines(sizes: Mapping[str, int], count: int = 8) -> list[str]:
    """The biggest packages, one per line, for the build report."""
    total = sum(sizes.values()) or 1
    return [
        f"{name:<24} {size / 1e6:8.1f} MB {100 * size / total:5.1f}%"
        for name, size in largest(sizes, count)
    ]


def over_budget_message(budget: LayerBudget, sizes: Mapping[str, int]) -> str:
    biggest = ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in largest(sizes, 3))
    return (
        f"the deps layer is {budget.unzipped_bytes / 1e6:.1f} MB unzipped, over the "
        f"{budget.allowed_bytes / 1e6:.1f} MB Lambda leaves it (262.1 MB minus "
        f"{budget.reserved_bytes / 1e6:.1f} MB for the model layer and function); largest: "
        f"{biggest}. Drop a package, or try --prune or --sourceless"
    )


def function_over_limit(parts: Mapping[str, int]) -> str | None:
    """Why the function's code and layers (name -> unzipped bytes) exceed Lambda's
    unzipped limit, or None when they fit."""
    total = sum(parts.values())
    if total <= UNZIPPED_LIMIT:
        return None
    listed = " + ".join(f"{name} {size / 1e6:.1f} MB" for name, size in parts.items())
    return (
        f"{listed} = {total / 1e6:.1f} MB unzipped, over Lambda's 262,144,000 bytes for a "
        "function and its layers: rebuild the deps layer with --prune or --sourceless, "
        "or publish a smaller model"
    )
