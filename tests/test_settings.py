"""mlayer.toml + flags -> Settings: the file fills in, a flag wins."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import assert_one_line_error, run

from mlayer import cli
from mlayer import settings as settings_module
from mlayer.errors import UsageError
from mlayer.ops import inspect
from mlayer.ops.deploy import deploy_request
from mlayer.settings import Settings, load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_file_fills_in_and_flags_win(tmp_path: Path) -> None:
    write(tmp_path / "mlayer.toml", 'function-name = "fn"\nmemory = 512\nbatch_size = 10\n')
    settings = load_settings({"memory": 1024, "region": None}, cwd=tmp_path)
    assert settings.function_name == "fn"
    assert settings.batch_size == 10
    assert settings.memory == 1024  # the flag beats the file
    assert settings.timeout == 60  # the default where neither says


def test_layer_names_default_from_the_function_name() -> None:
    settings = load_settings({"function_name": "MyModelInference"}, cwd=Path("/nonexistent"))
    assert (settings.deps_layer, settings.model_layer) == (
        "MyModelInference-deps",
        "MyModelInference-model",
    )
    named = load_settings({"function_name": "f", "model_layer_name": "m"}, cwd=Path("/nope"))
    assert named.model_layer == "m"


def test_missing_function_name_says_how_to_set_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--function-name"):
        _ = load_settings({}, cwd=tmp_path).deps_layer


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("memroy = 1\n", "unknown setting 'memroy'"),
        ('memory = "big"\n', "memory must be a int"),
        ("memory = \n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "mlayer.toml", text)
    with pytest.raises(UsageError, match=message) as info:
        load_settings({}, cwd=tmp_path)
    assert str(path) in str(info.value)


def test_explicit_config_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_settings({}, config=str(tmp_path / "other.toml"))


@pytest.mark.parametrize("command", ["deploy", "status"])
def test_file_values_get_their_options_types_and_errors_name_file_and_key(
    project: Path, command: str
) -> None:
    """deploy has a --batch-size (the file is its default_map); status has none (the
    file value goes through deploy's option): the same refusal, before any AWS call."""
    path = write(project / "mlayer.toml", "memory = 256\nbatch-size = 0\n")
    result = run(command, "--function-name", "fn")
    assert_one_line_error(result)
    assert result.stderr.strip() == f"Error: {path}: batch-size 0 is not in the range 1<=x<=10000"


def test_a_good_file_value_is_the_options_default_and_a_flag_still_wins(project: Path) -> None:
    write(project / "mlayer.toml", 'memory = 256\nfunction-name = "from-file"\n')
    cost = ("cost", "--records", "10", "--batch-size", "1", "--duration-ms", "5")
    assert "10 records per ingest, 256 MB," in run(*cost).stdout
    assert "10 records per ingest, 512 MB," in run(*cost, "--memory", "512").stdout
    # a global flag before the command name wins over the file as one after it does
    for args in (("--function-name", "flag", "versions"), ("versions", "--function-name", "flag")):
        settings = _settings_of(*args)
        assert (settings.function_name, settings.memory) == ("flag", 256)


def _settings_of(*args: str) -> Settings:
    """The Settings a command receives, caught at ``versions``'s operation."""
    seen: list[Settings] = []

    def versions(settings: Settings, aws: object) -> list[object]:
        seen.append(settings)
        return []

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inspect, "versions", versions)
        patch.setattr(cli, "Aws", lambda *args: SimpleNamespace(region="eu-west-1"))
        assert run(*args).exit_code == 0
    return seen[0]


def test_keys_no_flag_has_keep_the_type_check_and_get_the_name_rule(tmp_path: Path) -> None:
    write(tmp_path / "mlayer.toml", "model-layer-name = 3\n")
    with pytest.raises(UsageError, match="model-layer-name must be a str"):
        load_settings({}, cwd=tmp_path)
    write(tmp_path / "mlayer.toml", 'model-layer-name = "my model"\n')
    with pytest.raises(UsageError, match="model-layer-name 'my model' is not a Lambda layer name"):
        load_settings({}, cwd=tmp_path)


# --- the runtime: the running Python's unless a flag or the file names one ------------


@pytest.fixture
def python_3_13(monkeypatch: pytest.MonkeyPatch) -> None:
    """mlayer run by Python 3.13 (the model trained there)."""
    monkeypatch.setattr(settings_module, "running_python", lambda: (3, 13))


def test_no_runtime_given_is_the_running_pythons_and_says_why(
    python_3_13: None, tmp_path: Path
) -> None:
    settings = load_settings({}, cwd=tmp_path)
    assert settings.runtime == "python3.13"
    assert settings.runtime_line() == (
        "runtime: python3.13 (the Python running mlayer, where the model is trained; "
        "pass --runtime to choose)"
    )


def test_a_runtime_from_the_flag_or_the_file_is_taken_as_is_and_not_explained(
    python_3_13: None, tmp_path: Path
) -> None:
    flagged = load_settings({"runtime": "python3.12"}, cwd=tmp_path)
    assert (flagged.runtime, flagged.runtime_line()) == ("python3.12", None)
    write(tmp_path / "mlayer.toml", 'runtime = "python3.11"\n')
    filed = load_settings({}, cwd=tmp_path)
    assert (filed.runtime, filed.runtime_line()) == ("python3.11", None)


def test_a_python_lambda_has_no_runtime_for_is_one_line_for_commands_that_use_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(settings_module, "running_python", lambda: (3, 15))
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "requirements.txt", "numpy==2.2.6\n")
    assert_one_line_error(
        run("build-deps", "-r", "requirements.txt"),
        "no runtime for Python 3.15",
        "--runtime",
        "python3.13",
    )
    # A command that uses no runtime does not care which Python runs it.
    assert "runtime" not in run("iam-policy", "--function-name", "fn").stderr


def test_the_chosen_runtime_is_said_once_before_the_first_line_of_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Under Python 3.10: the choice, then AWS's deprecation (a warning on any day
    after 2026-10-31, with the flag), then a refusal of the file (an unpinned line
    for --no-deps, refused before pip runs)."""
    monkeypatch.setattr(settings_module, "running_python", lambda: (3, 10))
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "loose.txt", "numpy\n")
    flags = ("--no-deps", "--builder", "pip", "--allow-deprecated-runtime")
    result = run("build-deps", "-r", "loose.txt", *flags)
    lines = result.stderr.splitlines()
    assert lines[0].startswith("runtime: python3.10 (the Python running mlayer")
    assert lines[1].startswith("Warning: python3.10 was deprecated by AWS on 2026-10-31")
    assert lines[2].startswith("Error: loose.txt") and len(lines) == 3


def test_allow_deprecated_runtime_from_the_file_reaches_deploys_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "mlayer.toml", 'function-name = "fn"\nallow-deprecated-runtime = true\n')
    settings = load_settings({}, cwd=tmp_path)
    assert settings.allow_deprecated_runtime
    assert deploy_request(settings, None).allow_deprecated_runtime
    assert "--allow-deprecated-runtime" in run("deploy", "--help").stdout
    assert "--allow-deprecated-runtime" in run("build-deps", "--help").stdout
