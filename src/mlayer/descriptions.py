"""The layer version descriptions mlayer writes and reads back (pure, no I/O).

A layer version's description (at most 256 characters, Lambda's limit) is
where mlayer keeps what it must know about a published version without
downloading it: the versions the compatibility gate compares, the unzipped
size deploy checks against Lambda's budget, the content hash. Two kinds, each
a first word and ``key=value`` words:

``mlayer-model sha256=<16> files=N [unzipped=<bytes>] python=3.11.7 sklearn=1.7.2 … label=L``
``mlayer-deps runtime=python3.11 arch=x86_64 python=3.11 sklearn=1.7.2 … unzipped=<bytes>
[pruned=1] sha256=<16>``

A description of another kind (a layer mlayer did not publish) reads as ``{}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlayer.layerbuild.archive import ZipSummary
    from mlayer.targets import Target

MODEL_KIND = "mlayer-model"
DEPS_KIND = "mlayer-deps"
DESCRIPTION_LIMIT = 256  # Lambda's limit on a layer version's description
# The libraries a deps description records, by their distribution names.
DESCRIBED_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib")
# Distribution name -> the short name descriptions and the gate use.
_ALIASES = {"scikit-learn": "sklearn"}


def short_name(library: str) -> str:
    """``scikit-learn`` -> ``sklearn``; any other name as is."""
    return _ALIASES.get(library, library)


def model_description(
    *,
    content_sha256: str,
    files: int,
    trained_with: Mapping[str, str],
    label: str | None,
    unzipped_bytes: int | None = None,
) -> str:
    """A model layer version's description.

    The hash and the versions come first; only the label is cut when the
    whole would exceed Lambda's 256 characters, so the gate always has them.
    """
    parts = [MODEL_KIND, f"sha256={content_sha256[:16]}", f"files={files}"]
    if unzipped_bytes is not None:
        parts.append(f"unzipped={unzipped_bytes}")
    parts += [f"{short_name(lib)}={ver}" for lib, ver in sorted(trained_with.items())]
    parts.append(f"label={label or '-'}")
    return " ".join(parts)[:DESCRIPTION_LIMIT]


def deps_description(
    target: Target, versions: Mapping[str, str], summary: ZipSummary, *, pruned: bool = False
) -> str:
    """The deps layer version's description, read back by the compatibility gate,
    deploy's size check and publish-model's module check."""
    parts = [
        DEPS_KIND,
        f"runtime={target.runtime}",
        f"arch={target.arch}",
        f"python={target.python_dotted}",
    ]
    parts += [f"{short_name(n)}={versions[n]}" for n in DESCRIBED_PACKAGES if n in versions]
    parts.append(f"unzipped={summary.unzipped_bytes}")
    if pruned:
        parts.append("pruned=1")
    parts.append(f"sha256={summary.sha256[:16]}")
    return " ".join(parts)[:DESCRIPTION_LIMIT]


def parse_description(description: str, kind: str = MODEL_KIND) -> dict[str, str]:
    """The key=value pairs of a description of ``kind`` (``MODEL_KIND`` or
    ``DEPS_KIND``); another layer's description gives an empty dict."""
    words = description.split()
    if not words or words[0] != kind:
        return {}
    return dict(part.split("=", 1) for part in words[1:] if "=" in part)


def model_fields(description: str) -> dict[str, str]:
    """What a model layer version's description records, or ``{}``."""
    return parse_description(description, MODEL_KIND)


def deps_fields(description: str) -> dict[str, str]:
    """What a deps layer version's description records, or ``{}``."""
    return parse_description(description, DEPS_KIND)
