"""The one exception hierarchy of mlayer.

Library code raises these; the CLI turns them into a one-line message and a
non-zero exit code in a single place (``cli.main``). Each message says what is
wrong and what to do about it.
"""

from __future__ import annotations


class MlayerError(Exception):
    """A problem the user can fix; its text is shown as is."""

    exit_code = 1


class UsageError(MlayerError):
    """A flag, a config value or an input file is wrong."""

    exit_code = 2


class BuildError(MlayerError):
    """Building a layer failed (pip, Docker, verification, size budget)."""


class AwsError(MlayerError):
    """AWS refused a call or could not be reached."""


class NotFound(AwsError):
    """A function, layer or layer version does not exist."""


class Conflict(AwsError):
    """Someone else changed the resource since mlayer read it (Lambda's
    PreconditionFailedException or ResourceConflictException)."""


class PartiallyApplied(AwsError):
    """A plan stopped midway: says what was applied, what failed, what was not
    applied, and that running the command again converges."""

    def __init__(
        self,
        cause: str,
        *,
        applied: list[str],
        failed: str,
        not_applied: list[str],
        rerun: str,
    ) -> None:
        self.applied, self.failed, self.not_applied = applied, failed, not_applied
        super().__init__(
            f"{cause}; applied: {_steps(applied)}; failed: {failed}; "
            f"not applied: {_steps(not_applied)}; re-run {rerun} to converge"
        )


def _steps(steps: list[str]) -> str:
    # Step descriptions hold commas and semicolons of their own.
    return " | ".join(steps) if steps else "nothing"
