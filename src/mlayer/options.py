"""Options shared by every command, defined once.

Global options are accepted before or after the command name
(``mlayer --json deploy`` and ``mlayer deploy --json``): each occurrence
records its value in the root context, and commands read them from there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from mlayer import validate

F = TypeVar("F", bound=Callable[..., Any])

GLOBALS_KEY = "mlayer.globals"


class Checked(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.5
    """A string checked by one of ``mlayer.validate``'s rules, for a flag and its
    mlayer.toml key alike."""

    def __init__(self, name: str, check: Callable[[str], str]) -> None:
        self.name = name
        self._check = check

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return self._check(str(value))
        except ValueError as exc:
            self.fail(f"{value!r} {exc}", param, ctx)


class RecordAge(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.5
    """Lambda's MaximumRecordAgeInSeconds: -1 (until the record expires) or 60..604800."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        age: int = click.INT.convert(value, param, ctx)
        if age != -1 and not 60 <= age <= 604_800:
            self.fail(f"{age} is not -1 (until the record expires) or in 60..604800", param, ctx)
        return age


FUNCTION_NAME = Checked("function name", validate.check_function_name)
LAYER_NAME = Checked("layer name", validate.check_layer_name)
REGION = Checked("region", validate.check_region)
ENDPOINT_URL = Checked("URL", validate.check_endpoint_url)
BUCKET = Checked("bucket", validate.check_bucket)
STREAM_ARN = Checked("ARN", validate.check_stream_source)
ROLE_ARN = Checked("ARN", validate.check_role_arn)
DESTINATION_ARN = Checked("ARN", validate.check_destination)
RECORD_AGE = RecordAge()


def _options(command: click.Command) -> dict[str, click.Parameter]:
    return {p.name: p for p in command.params if isinstance(p, click.Option) and p.name}


def file_value_converter(ctx: click.Context) -> Callable[[str, Any], Any]:
    """Converts a mlayer.toml value with the option of the same name, so the file
    gets the flag's own type and range: this command's option, else the first
    command's that has one; a key no option has comes back as it is.

    The converter raises ``ValueError`` with click's reason (e.g. ``0 is not in
    the range 1<=x<=10000``); ``settings`` names the file and key.
    """
    own = _options(ctx.command)
    root = ctx.find_root().command
    commands = root.commands.values() if isinstance(root, click.Group) else ()
    others = [_options(command) for command in commands]

    def convert(name: str, value: Any) -> Any:
        param = own.get(name) or next((o[name] for o in others if name in o), None)
        if param is None:
            return value
        try:
            if param.multiple:
                return tuple(param.type.convert(v, param, ctx) for v in value)
            return param.type.convert(value, param, ctx)
        except click.BadParameter as exc:
            raise ValueError(exc.message.rstrip(".")) from None

    return convert


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and value is not False:
        ctx.find_root().meta.setdefault(GLOBALS_KEY, {})[param.name] = value
    return value


def global_values(ctx: click.Context) -> dict[str, Any]:
    values: dict[str, Any] = ctx.find_root().meta.get(GLOBALS_KEY, {})
    return values


def _global(*names: str, **kwargs: Any) -> Callable[[F], F]:
    # The value only goes to the root context; the command function never sees it.
    return click.option(*names, expose_value=False, callback=_remember, **kwargs)


_GLOBAL_OPTIONS = [
    _global(
        "--config", type=click.Path(dir_okay=False), help="Settings file [default: ./mlayer.toml]."
    ),
    _global("--region", type=REGION, help="AWS region [default: from your AWS config]."),
    _global("--profile", help="AWS profile from your AWS config."),
    _global(
        "--endpoint-url",
        type=ENDPOINT_URL,
        envvar="AWS_ENDPOINT_URL",
        show_envvar=True,
        help="Send AWS calls to this endpoint (LocalStack, moto).",
    ),
    _global(
        "--function-name",
        type=FUNCTION_NAME,
        help="The Lambda function; layer names default from it.",
    ),
    _global(
        "--json",
        "json",
        is_flag=True,
        default=None,
        help="Print one JSON object on stdout; messages go to stderr.",
    ),
    _global("--debug", is_flag=True, default=None, help="Show tracebacks."),
]


def global_options(func: F) -> F:
    """--config, --region, --profile, --endpoint-url, --function-name, --json, --debug."""
    for option in reversed(_GLOBAL_OPTIONS):
        func = option(func)
    return func


def dry_run_option(func: F) -> F:
    return click.option(
        "--dry-run", is_flag=True, help="Print the steps that would run; change nothing."
    )(func)


def layer_name_option(kind: str) -> Callable[[F], F]:
    return click.option(
        "--layer-name",
        type=LAYER_NAME,
        help=f"Name of the {kind} layer [default: <function-name>-{kind}].",
    )


def bucket_option(func: F) -> F:
    return click.option(
        "--bucket",
        type=BUCKET,
        help="S3 bucket for zips over Lambda's 50 MB direct upload limit.",
    )(func)


def out_option(func: F) -> F:
    return click.option(
        "--out", type=click.Path(file_okay=False), help="Build directory [default: build]."
    )(func)
