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


def test_file_values_go_through_the_converter_and_errors_name_file_and_key(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "mlayer.toml", "memory = 256\nbatch-size = 0\n")
    seen: list[tuple[str, object]] = []

    def convert(name: str, value: object) -> object:
        seen.append((name, value))
        if name == "batch_size":
            raise ValueError(f"{value} is not in the range 1<=x<=10000")
        return value

    with pytest.raises(UsageError) as refused:
        load_settings({}, cwd=tmp_path, convert=convert)
    assert str(refused.value) == f"{path}: batch-size 0 is not in the range 1<=x<=10000"
    assert seen == [("memory", 256), ("batch_size", 0)]


def test_keys_no_flag_has_keep_the_type_check_and_get_the_name_rule(tmp_path: Path) -> None:
    write(tmp_path / "mlayer.toml", "model-layer-name = 3\n")
    with pytest.raises(UsageError, match="model-layer-name must be a str"):
        load_settings({}, cwd=tmp_path, convert=lambda _name, value: value)
    write(tmp_path / "mlayer.toml", 'model-layer-name = "my model"\n')
    with pytest.raises(UsageError, match="model-layer-name 'my model' is not a Lambda layer name"):
        load_settings({}, cwd=tmp_path)
