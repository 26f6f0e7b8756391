from conftest import run_json


def test_deployed_fixture(deployed):
    status = run_json("status", "--function-name", "fn")
    assert [layer["name"] for layer in status["function"]["layers"]] == ["fn-deps", "fn-model"]
