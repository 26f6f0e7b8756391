"""The pip builder: install wheels for the Lambda target, without Docker.

pip is told the target's Python version, ABI, implementation and the exact
manylinux tags its glibc allows, and ``--only-binary=:all:`` so nothing is
compiled for the build machine by accident. What it installed is then checked
from the WHEEL files (``dists.check_wheel_tags``), so a tag pip let through by
mistake still cannot reach a layer.

When pip fails, ``classify_pip_output`` reads its output (and its ``--log``)
for the cause: an index it could not reach, or a requirement with no matching
file; for the latter ``probe_index`` asks the index what it does hold (wheels
for a newer glibc, for the other machine, only an sdist), and
``explain_missing`` words it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from mlayer.errors import BuildError
from mlayer.targets import RUNTIMES, Target, runtime_info

# The proxy variables pip reads; the Docker builder forwards them (docker.FORWARDED_ENV).
PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")

_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")


def target_flags(target: Target) -> list[str]:
    """pip flags that pin the platform, Python and ABI to the target's."""
    flags = [
        "--only-binary=:all:",
        "--implementation", "cp",
        "--python-version", target.python_dotted,
        "--abi", target.python_tag,
    ]  # fmt: skip
    for tag in target.platform_tags:
        flags += ["--platform", tag]
    return flags


def pip_arguments(
    requirements: Path,
    target: Target,
    dest: Path,
    *,
    no_deps: bool,
    for_target: bool = True,
    log: Path | None = None,
) -> list[str]:
    """The arguments after ``python -m pip`` that install ``requirements`` into ``dest``
    (``log``: pip's debug log, which says why an index could not be read)."""
    arguments = [
        "install",
        "--requirement", str(requirements),
        "--target", str(dest),
        "--no-compile",  # bytecode is compiled later, for the target's interpreter
        "--upgrade",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar", "off",
    ]  # fmt: skip
    if log is not None:
        arguments += ["--log", str(log)]
    if for_target:
        arguments += target_flags(target)
    if no_deps:
        arguments.append("--no-deps")
    return arguments


def pip_command(
    requirements: Path, target: Target, dest: Path, *, no_deps: bool, log: Path | None = None
) -> list[str]:
    """The pip invocation that installs ``requirements`` for ``target`` into ``dest``."""
    return [
        sys.executable,
        "-m",
        "pip",
        *pip_arguments(requirements, target, dest, no_deps=no_deps, log=log),
    ]


def pip_install(
    requirements: Path,
    target: Target,
    dest: Path,
    *,
    no_deps: bool = False,
    on_line: Callable[[str], None] = lambda _: None,
) -> None:
    """Run pip for ``target``; a failure names its cause (see ``explain_pip_failure``)."""
    output: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mlayer-pip-") as logs:
        log = Path(logs) / "pip.log"
        command = pip_command(requirements, target, dest, no_deps=no_deps, log=log)
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                output.append(line.rstrip())
                on_line(line.rstrip())
        if process.returncode != 0:
            raise BuildError(explain_pip_failure([*output, *read_log(log)], target))


def read_log(log: Path) -> list[str]:
    """pip's ``--log`` lines, without their timestamps (none if it wrote none)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return [line.split(" ", 1)[1] if " " in line else line for line in text.splitlines()]


def explain_pip_failure(
    output: list[str],
    target: Target,
    *,
    in_container: str | None = None,
    probe: Callable[[str, Target], IndexFindings] | None = None,
) -> str:
    """One line that names the cause: the index not reachable, or what the index
    holds of the requirement pip could not install (``probe``, default
    ``probe_index``), or pip's own error."""
    failure = classify_pip_output(output)
    if failure.kind == "unreachable":
        return unreachable_message(failure, in_container=in_container)
    if failure.kind == "no_match" and failure.requirement:
        findings = (probe or probe_index)(failure.requirement, target)
        return explain_missing(failure.requirement, target, findings)
    return "pip failed: " + (failure.reason or "no output")


# --- why pip failed ------------------------------------------------------------------

DEFAULT_INDEX = "https://pypi.org/simple"  # pip's own default
# Wheels are probed up to this glibc (newer than any Lambda runtime's), so a wheel
# that needs more than every runtime has is found and named too.
_PROBE_GLIBC = (2, 40)
_LEGACY_GLIBC = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX = re.compile(r"^(?:manylinux_(\d+)_(\d+)|(manylinux1|manylinux2010|manylinux2014))_")
# pip's --log (debug level) says why a page could not be read; its console only
# does so when it retries.
_COULD_NOT_FETCH = re.compile(r"Could not fetch URL (\S+?): (.*?)(?: - skipping)?$")
_RETRYING = re.compile(r"Retrying \(Retry\(.*?\)\) after connection broken by '(.*)': (\S+)")
_LOOKING_IN = re.compile(r"^Looking in indexes: ([^,\s]+)", re.MULTILINE)
_NO_VERSIONS = re.compile(r"\(from versions: none\)")


@dataclass(frozen=True)
class PipFailure:
    """What a failed pip run says went wrong (``classify_pip_output``)."""

    kind: Literal["unreachable", "no_match", "other"]
    requirement: str | None = None  # no_match: the requirement as pip names it
    index: str | None = None  # unreachable: the index pip could not read
    reason: str = ""  # unreachable: tls | proxy | timeout | dns | connection; other: pip's line


def _network_reason(text: str) -> str:
    lowered = text.lower()
    if "ssl" in lowered or "certificate" in lowered:
        return "tls"
    if "proxy" in lowered:
        return "proxy"
    if "timed out" in lowered or "timeout" in lowered:
        return "timeout"
    if "name resolution" in lowered or "name or service not known" in lowered:
        return "dns"
    return "connection"


def classify_pip_output(lines: Sequence[str]) -> PipFailure:
    """The cause of a failed pip run, from its output and ``--log`` lines (pure).

    An index pip could not read is the cause only when pip then found no version
    at all: with another index answering, a missing version is the cause.
    """
    text = "\n".join(lines)
    missing = _NO_MATCH.search(text)
    fetch = [m for line in lines if (m := _COULD_NOT_FETCH.search(line))]
    retry = [m for line in lines if (m := _RETRYING.search(line))]
    if (fetch or retry) and (missing is None or _NO_VERSIONS.search(text)):
        if fetch:
            url, why = fetch[0].group(1), fetch[0].group(2)
            index = url.rstrip("/").rsplit("/", 1)[0]  # the project page's index
        else:
            why = retry[0].group(1)
            looking = _LOOKING_IN.search(text)
            index = looking.group(1) if looking else DEFAULT_INDEX
        return PipFailure("unreachable", index=index, reason=_network_reason(why))
    if missing:
        return PipFailure("no_match", requirement=missing.group(1))
    errors = [line.strip() for line in lines if line.lstrip().startswith("ERROR")]
    return PipFailure("other", reason=errors[0] if errors else (lines[-1] if lines else ""))


_REASONS = {
    "tls": "TLS certificate verification failed",
    "proxy": "the proxy could not be reached",
    "timeout": "the connection timed out",
    "dns": "the host name does not resolve",
    "connection": "the connection failed",
}


def unreachable_message(failure: PipFailure, *, in_container: str | None = None) -> str:
    """The index could not be read: which one, why, and what to check."""
    said = f"pip could not reach the package index {failure.index} ({_REASONS[failure.reason]})"
    if in_container:
        proxies = "/".join(name for name in PROXY_ENV if name.isupper())
        return (
            f"{said} from the build container: pass --host-network if the "
            f"container has no network, set {proxies} for a proxy, and --ca-bundle for a "
            "private CA (all forwarded to the container)"
        )
    return (
        f"{said}: check the network, the proxy (HTTPS_PROXY) and the CA bundle (PIP_CERT), "
        "or set PIP_INDEX_URL to an index this machine reaches"
    )


def wheel_glibc(filename: str, machine: str) -> tuple[int, int] | None:
    """The oldest glibc a wheel file for ``machine`` runs on (None: not a manylinux
    wheel for that machine)."""
    try:
        tags = parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return None
    found: list[tuple[int, int]] = []
    for tag in tags:
        match = _MANYLINUX.match(tag.platform)
        if match and tag.platform.endswith("_" + machine):
            legacy = match.group(3)
            found.append(
                _LEGACY_GLIBC[legacy] if legacy else (int(match.group(1)), int(match.group(2)))
            )
    return min(found) if found else None


@dataclass(frozen=True)
class IndexFindings:
    """What the index holds for a requirement pip found no wheel of (``probe_index``)."""

    wheel: str | None = None  # a wheel for the target's Python and machine, any glibc
    other_machine_wheel: str | None = None  # one for the target's Python, other machine
    has_sdist: bool | None = None  # None: not known (an older pip)


def _dotted(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def explain_missing(requirement: str, target: Target, findings: IndexFindings) -> str:
    """One line for a requirement with no wheel for ``target``, by its cause (pure)."""
    needed = wheel_glibc(findings.wheel, target.machine) if findings.wheel else None
    if needed is not None and needed > target.glibc:
        info = runtime_info(target.runtime)
        where = f"{info.os} (glibc {target.glibc_dotted})" if info else target.glibc_dotted
        carrying = [name for name in RUNTIMES if (r := runtime_info(name)) and r.glibc >= needed]
        advice = (
            f"use --runtime {carrying[0]} or newer"
            if carrying
            else "no Lambda runtime has it: pick an older version"
        )
        return (
            f"{requirement} needs glibc {_dotted(needed)} or newer"
            + (f" on {target.arch}" if target.arch != "x86_64" else "")
            + f"; {target.runtime} runs on "
            f"{where}: {advice}"
        )
    if findings.other_machine_wheel:
        other = "x86_64" if target.arch == "arm64" else "arm64"
        return (
            f"{requirement} has no wheel for {target.arch} ({target.machine}) on "
            f"{target.python_tag}, only for {other}: use --arch {other}, or pick a version "
            f"that ships {target.machine} wheels"
        )
    tried = f"{target.runtime}/{target.arch} ({target.tags_summary})"
    if findings.has_sdist:
        return (
            f"{requirement} has no wheel for {tried}, only an sdist (source) that would be "
            "compiled: pick a version that ships a wheel for it, or build with --builder docker, "
            "which compiles it in the runtime's build image"
        )
    return (
        f"no wheel of {requirement} for {tried}"
        + (" and no sdist" if findings.has_sdist is False else "")
        + f": pick a version that ships one for Python {target.python_dotted} "
        "(pip index versions lists them)"
    )


# --- asking the index (I/O) ---------------------------------------------------------


def probe_index(requirement: str, target: Target, *, python: str = sys.executable) -> IndexFindings:
    """What the index (as pip is configured) holds of ``requirement``: a wheel for the
    target's Python at any glibc, else one for the other machine, else an sdist.
    pip resolves with ``--dry-run`` (wheels' metadata only, nothing installed)."""
    wide = replace(target, glibc=_PROBE_GLIBC)
    wheel = _probe_wheel(requirement, wide, python)
    if wheel is not None and wheel_glibc(wheel, target.machine) is not None:
        return IndexFindings(wheel=wheel)
    other = replace(wide, arch="x86_64" if target.arch == "arm64" else "arm64")
    other_wheel = _probe_wheel(requirement, other, python)
    if other_wheel is not None:
        return IndexFindings(other_machine_wheel=other_wheel)
    return IndexFindings(has_sdist=_has_sdist(requirement, python))


def _probe_wheel(requirement: str, target: Target, python: str) -> str | None:
    """The file name of the wheel pip would take for ``target``, None if none."""
    with tempfile.TemporaryDirectory(prefix="mlayer-probe-") as tmp:
        report = Path(tmp) / "report.json"
        command = [
            python, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
            "--quiet", "--disable-pip-version-check", "--no-input",
            "--report", str(report), *target_flags(target), requirement,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or not report.is_file():
            return None
        installs = json.loads(report.read_text()).get("install", [])
    if not installs:
        return None
    url = installs[0].get("download_info", {}).get("url", "")
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or None


def _has_sdist(requirement: str, python: str) -> bool | None:
    """Whether an sdist of ``requirement`` is on the index (None: pip cannot say)."""
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement:
        return None
    command = [
        python, "-m", "pip", "index", "versions", parsed.name, "--json", "--pre",
        "--ignore-requires-python", "--no-binary=:all:", "--disable-pip-version-check",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        return False if "No matching distribution" in done.stderr + done.stdout else None
    try:
        versions = json.loads(done.stdout)["versions"]
    except (ValueError, KeyError):
        return None
    return any(parsed.specifier.contains(v, prereleases=True) for v in versions)
