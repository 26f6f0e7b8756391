"""mlayer.toml + flags -> Settings: the file fills in, a flag wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlayer.errors import UsageError
from mlayer.settings import load_settings


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
        ('memroy = 1\n', "unknown setting 'memroy'"),
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
