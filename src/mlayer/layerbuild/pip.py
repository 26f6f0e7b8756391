"""The pip builder: install wheels for the Lambda target, without Docker.

pip is told the target's Python version, ABI, implementation and the exact
manylinux tags its glibc allows, and ``--only-binary=:all:`` so nothing is
compiled for the build machine by accident. What it installed is then checked
from the WHEEL files (``dists.check_wheel_tags``), so a tag pip let through by
mistake still cannot reach a layer.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mlayer.errors import BuildError
from mlayer.targets import Target

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
    requirements: Path, target: Target, dest: Path, *, no_deps: bool, for_target: bool = True
) -> list[str]:
    """The arguments after ``python -m pip`` that install ``requirements`` into ``dest``."""
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
    if for_target:
        arguments += target_flags(target)
    if no_deps:
        arguments.append("--no-deps")
    return arguments


def pip_command(requirements: Path, target: Target, dest: Path, *, no_deps: bool) -> list[str]:
    """The pip invocation that installs ``requirements`` for ``target`` into ``dest``."""
    return [
        sys.executable,
        "-m",
        "pip",
        *pip_arguments(requirements, target, dest, no_deps=no_deps),
    ]


def pip_install(
    requirements: Path,
    target: Target,
    dest: Path,
    *,
    no_deps: bool = False,
    on_line: Callable[[str], None] = lambda _: None,
) -> None:
    """Run pip for ``target``; a failure names the package pip could not find."""
    command = pip_command(requirements, target, dest, no_deps=no_deps)
    output: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            on_line(line.rstrip())
    if process.returncode != 0:
        raise BuildError(explain_pip_failure(output, target))


def explain_pip_failure(output: list[str], target: Target) -> str:
    """One line that says which package failed and what was tried."""
    text = "\n".join(output)
    missing = _NO_MATCH.search(text)
    if missing:
        return (
            f"no wheel of {missing.group(1)} for {target.runtime}/{target.arch} "
            f"({target.tags_summary}); "
            "pick a version that ships one, or build with --builder docker"
        )
    errors = [line for line in output if line.startswith("ERROR")]
    return "pip failed: " + (errors[0] if errors else (output[-1] if output else "no output"))
