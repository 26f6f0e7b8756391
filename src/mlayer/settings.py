"""mlayer.toml + command-line flags -> one frozen ``Settings``.

Every option can live in ``mlayer.toml`` (same name as the flag, without the
dashes); a flag given on the command line wins over the file, and the file wins
over the defaults below. Reading the file is the only I/O here; the CLI
(``options``) gives each file value the type and range of its option.
"""

from __future__ import annotations

import dataclasses
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlayer import validate
from mlayer.contract import DEFAULT_SINK, DEFAULT_TEXT_FIELD
from mlayer.errors import UsageError
from mlayer.targets import runtime_for_python

CONFIG_NAME = "mlayer.toml"

# mlayer's defaults for the stream trigger, chosen so that no record can stall a
# shard for long (Lambda's own, -1/-1/off, retry a failing batch until its
# records expire: up to the stream's retention, the shard blocked meanwhile).
# Lambda's stream semantics (docs.aws.amazon.com/lambda/latest/dg/
# kinesis-on-failure-destination.html): a function error is retried until the
# retries are used up or the record is too old; bisecting splits the failed
# batch in two, and a split does not use up a retry.
# - Bisect on: a record that crashes the whole invocation (the handler reports
#   undecodable records one by one, so this is what is left: a model error,
#   a timeout, out of memory) is cornered in log2(batch) splits, for free.
SAFE_BISECT_ON_ERROR = True
# - 3 retries: enough for what passes (a throttled sink, a cold start that
#   timed out); a batch that keeps failing holds its shard for at most 4
#   invocations of the cornered batch, then is dropped (or sent --on-failure).
SAFE_MAXIMUM_RETRIES = 3
# - One day: the default retention of Kinesis streams and DynamoDB streams, so
#   on such a stream no record it still holds is dropped for its age (a
#   TRIM_HORIZON start or a backlog loses nothing); it bounds what retries do
#   not: failures before the function runs (throttling), which Lambda retries
#   until the record is too old, up to 7 days on a stream kept longer.
SAFE_MAXIMUM_RECORD_AGE = 86400

# Why a runtime no flag or file named was chosen (the CLI says it once per command).
RUNTIME_WHY = "the Python running mlayer, where the model is trained; pass --runtime to choose"


def running_python() -> tuple[int, int]:
    """The version of the Python running mlayer, where the model is trained."""
    return sys.version_info[0], sys.version_info[1]


def running_python_runtime() -> str:
    """The Lambda runtime named after the Python running mlayer (python3.13 under
    3.13): the default runtime. Not checked here, so that commands that use no
    runtime work under any Python; ``Settings.runtime_line`` refuses one Lambda
    lacks in the commands that use it."""
    major, minor = running_python()
    return f"python{major}.{minor}"


@dataclass(frozen=True)
class Settings:
    """Everything a command may need, resolved once."""

    # AWS and naming
    function_name: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    deps_layer_name: str | None = None
    model_layer_name: str | None = None
    bucket: str | None = None
    # output
    json: bool = False
    debug: bool = False
    # build-deps
    requirements: str | None = None
    for_model: tuple[str, ...] = ()  # model files to pin the requirements from (not -r)
    runtime: str = field(default_factory=running_python_runtime)
    arch: str = "x86_64"
    builder: str = "auto"  # auto: docker when an engine answers, else pip
    image: str | None = None  # docker build image [default: SAM's for the runtime]
    host_network: bool = False
    ca_bundle: str | None = None  # mounted read-only in the build container as PIP_CERT
    slim: bool = True
    bytecode: bool = True
    sourceless: bool = False
    keep_sources: bool = False  # --prune ships sourceless bytecode unless this is set
    no_deps: bool = False
    prune: bool = False
    defer_imports: bool = False  # defer what the sample model never touches (traced)
    sample_models: tuple[str, ...] = ()
    sample_event: str | None = None
    reserve_mb: int = 0  # kept free of the 262 MB for model growth, besides the model layer
    out: str = "build"
    # publish-model
    model_files: tuple[str, ...] = ()
    label: str | None = None
    trust_global: tuple[str, ...] = ()  # --trust-global MODULE.NAME (repeatable)
    # deploy
    role: str | None = None
    stream_arn: str | None = None
    batch_size: int = 100
    starting_position: str = "LATEST"
    memory: int = 192
    timeout: int = 60
    handler_dir: str | None = None
    text_field: str = DEFAULT_TEXT_FIELD
    text_is_json: bool = False
    # model lifecycle: the compatibility gate, event sources, sinks, the role
    allow_version_mismatch: bool = False
    table_stream_arn: str | None = None
    sink: str = DEFAULT_SINK
    bisect_on_error: bool = SAFE_BISECT_ON_ERROR
    maximum_retries: int = SAFE_MAXIMUM_RETRIES
    maximum_record_age: int = SAFE_MAXIMUM_RECORD_AGE  # seconds
    parallelization_factor: int = 1
    on_failure: str | None = None
    create_role: bool = False
    # versions: each deploy publishes one behind the alias the trigger targets
    alias: str = "live"
    snapstart: bool | None = None  # None: as the function has it
    provisioned_concurrency: int | None = None  # on the alias; 0 removes; None: as it is
    # watching: CloudWatch alarms on the function (alarms.py)
    alarms: bool = False
    alarm_topic: str | None = None  # SNS topic the alarms notify
    # invoke --local and cost
    store: str | None = None  # mlayer's local store of published zips [~/.cache/mlayer]
    endpoint_monthly: float = 50.40  # the always-on alternative: $0.07/h x 720 h
    # runtime deprecated by AWS (targets.check_runtime_dates): go ahead all the same
    allow_deprecated_runtime: bool = False
    # where the config came from, for messages
    config_path: str | None = field(default=None, compare=False)
    # why the runtime is the one it is, when no flag or file named it (RUNTIME_WHY)
    runtime_why: str | None = field(default=None, compare=False)

    @property
    def deps_layer(self) -> str:
        return self.deps_layer_name or f"{self.require_function_name()}-deps"

    @property
    def model_layer(self) -> str:
        return self.model_layer_name or f"{self.require_function_name()}-model"

    def runtime_line(self) -> str | None:
        """``runtime: python3.13 (why)`` when no flag or file named the runtime, for
        the commands that use it; refuses a running Python Lambda has no runtime for."""
        if self.runtime_why is None:
            return None
        runtime_for_python(running_python())
        return f"runtime: {self.runtime} ({self.runtime_why})"

    def require_function_name(self) -> str:
        if not self.function_name:
            raise UsageError(
                "no function name: pass --function-name or set function-name in mlayer.toml"
            )
        return self.function_name


# What mlayer.toml may set: every setting but those resolve() fills in.
_FIELDS = {
    f.name: f for f in dataclasses.fields(Settings) if f.name not in ("config_path", "runtime_why")
}
DEFAULTS = Settings()  # for help texts: "[default: ...]" says what Settings says
# The TOML type of the settings whose default is None but not a string.
_UNSET_TYPES: dict[str, type] = {"snapstart": bool, "provisioned_concurrency": int}

# Settings only the file sets, under no option of their name (--layer-name sets
# them from the command line, typed by options.LAYER_NAME): their rule is here.
_FILE_ONLY_CHECKS: dict[str, Callable[[str], str]] = {
    "deps_layer_name": validate.check_layer_name,
    "model_layer_name": validate.check_layer_name,
}


@dataclass(frozen=True)
class ConfigFile:
    """mlayer.toml as read: values by setting name, each of the TOML type of its default.

    The option of the same name gives a value its range and rule (the CLI puts
    the values in click's ``default_map``); ``refusal`` words the error.
    """

    path: Path
    values: dict[str, Any]
    keys: dict[str, str]  # setting name -> the key as written (batch-size or batch_size)

    def refusal(self, name: str, reason: str) -> UsageError:
        """``mlayer.toml: batch-size 0 is not in the range 1<=x<=10000``."""
        return UsageError(f"{self.path}: {self.keys.get(name, name)} {reason}")


def read_config(config: str | None = None, cwd: Path | None = None) -> ConfigFile | None:
    """The config file (``config``, else ./mlayer.toml if there is one), checked for
    unknown keys, TOML types and the rules of the file-only settings."""
    path = Path(config) if config else (cwd or Path.cwd()) / CONFIG_NAME
    if not path.exists():
        if config is not None:
            raise UsageError(f"config file {path} does not exist")
        return None
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from exc
    file = ConfigFile(path, {}, {})
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name == "model_files" or name not in _FIELDS:
            known = ", ".join(sorted(n.replace("_", "-") for n in _FIELDS))
            raise UsageError(f"{path}: unknown setting {key!r}; known settings: {known}")
        file.keys[name] = key
        file.values[name] = _check_type(file, name, value)
    return file


def _check_type(file: ConfigFile, name: str, value: Any) -> Any:
    # TOML has types of its own, which click's string-minded types would coerce
    # ("5" -> 5, 3 -> "3", "yes" -> True): a value must already be of its kind.
    default = getattr(DEFAULTS, name)
    expected: type = type(default) if default is not None else _UNSET_TYPES.get(name, str)
    if expected is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)  # a list of file names, e.g. sample-models = ["a.joblib", ...]
    if (expected is int and isinstance(value, bool)) or not isinstance(value, expected):
        raise file.refusal(name, f"must be a {expected.__name__}, got {value!r}")
    check = _FILE_ONLY_CHECKS.get(name)
    if check is not None:
        try:
            check(str(value))
        except ValueError as exc:
            raise file.refusal(name, f"{value!r} {exc}") from None
    return value


def resolve(file: ConfigFile | None, flags: dict[str, Any]) -> Settings:
    """Defaults, then the file's values, then the flags that were given (not None).

    A runtime neither names is the running Python's, and ``runtime_why`` says so.
    """
    values: dict[str, Any] = dict(file.values) if file else {}
    values.update({k: v for k, v in flags.items() if v is not None and v != ()})
    if file:
        values["config_path"] = str(file.path)
    if not values.get("runtime"):
        values["runtime"] = running_python_runtime()
        values["runtime_why"] = RUNTIME_WHY
    return Settings(**values)


def load_settings(
    flags: dict[str, Any], config: str | None = None, cwd: Path | None = None
) -> Settings:
    """Merge defaults, the config file and the flags that were given (not None).

    Outside the CLI no option types the file's values: only their TOML types and
    the file-only rules are checked here.
    """
    return resolve(read_config(config, cwd), flags)
