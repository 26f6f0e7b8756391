"""Shared fixtures: a real moto server over HTTP, the example model, layer zips.

AWS is reached the way a user reaches it: boto3 and the CLI are pointed at a
moto server on a free loopback port through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result

from mlayer.cli import cli

ROOT = Path(__file__).resolve().parents[1]
# moto's server, event source mappings keeping the alias they target (the script says why).
MOTO_SERVER = ROOT / "scripts" / "moto_server.py"
EXAMPLES = ROOT / "examples"
REGION = "eu-west-1"
ACCOUNT = "123456789012"

sys.path.insert(0, str(EXAMPLES))
import train as example_train  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server in its own process, on a free loopback port (scripts/moto_server.py:
    moto with one documented correction)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("moto server did not start")
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


@dataclass(frozen=True)
class Account:
    endpoint: str
    role_arn: str
    stream_arn: str
    bucket: str

    def client(self, service: str, region: str = REGION):  # type: ignore[no-untyped-def]
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint)

    def mappings(self, function: str = "fn", alias: str = "live") -> list[dict]:  # type: ignore[type-arg]
        """The event source mappings on the function and on its alias, once each."""
        found: dict[str, dict] = {}  # type: ignore[type-arg]
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
        for target in (function, arn, f"{arn}:{alias}"):
            for item in self.client("lambda").list_event_source_mappings(FunctionName=target)[
                "EventSourceMappings"
            ]:
                found.setdefault(item["UUID"], item)
        return list(found.values())

    def served(self, function: str = "fn", alias: str = "live") -> dict:  # type: ignore[type-arg]
        """The configuration of the version the alias points at: what serves the trigger."""
        return self.client("lambda").get_function_configuration(  # type: ignore[no-any-return]
            FunctionName=function, Qualifier=alias
        )


@pytest.fixture
def aws(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Account:
    """An empty account on the moto server, with a role, a stream and a bucket."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request)
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # Published zips go to mlayer's local store; keep it out of the real ~/.cache.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    iam = boto3.client("iam", region_name=REGION, endpoint_url=moto_endpoint)
    role = iam.create_role(RoleName="inference", AssumeRolePolicyDocument=json.dumps({}))
    kinesis = boto3.client("kinesis", region_name=REGION, endpoint_url=moto_endpoint)
    kinesis.create_stream(StreamName="reviews", ShardCount=1)
    stream = kinesis.describe_stream(StreamName="reviews")["StreamDescription"]["StreamARN"]
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="mlayer-test", CreateBucketConfiguration={"LocationConstraint": REGION})
    return Account(moto_endpoint, role["Role"]["Arn"], stream, "mlayer-test")


@pytest.fixture(scope="session")
def model_v1(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The example's three joblib files (two pre-processors, a classifier)."""
    return example_train.train(1, tmp_path_factory.mktemp("model-v1"))


@pytest.fixture(scope="session")
def model_v2(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return example_train.train(2, tmp_path_factory.mktemp("model-v2"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, as a user's project would be."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    """Run the CLI in-process through click's runner (stdout and stderr apart)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(result: Result) -> str:
    """A refusal: exit != 0, one ``Error:`` line on stderr (after any progress
    messages), no traceback. Returns that line."""
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    return errors[0]


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """A refusal before any work: stderr is that one ``Error:`` line and nothing
    else, and it names each of ``fragments``."""
    line = one_line_error(result)
    assert result.stderr.strip() == line, result.stderr
    for fragment in fragments:
        assert fragment in line, line


def run_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def small_deps_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in deps layer for AWS-side tests: publishing does not look inside."""
    import zipfile

    path = tmp_path_factory.mktemp("deps") / "deps-layer.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python/placeholder.py", "")
    return path


@pytest.fixture
def deployed(aws: Account, project: Path, small_deps_zip: Path, model_v1: list[Path]) -> Account:
    """The function deployed with deps:1 and model:1, as after a first ``mlayer deploy``."""
    lam = aws.client("lambda")
    lam.publish_layer_version(LayerName="fn-deps", Content={"ZipFile": small_deps_zip.read_bytes()})
    assert run("publish-model", *map(str, model_v1), "--function-name", "fn").exit_code == 0
    result = run(
        "deploy", "--function-name", "fn", "--role", aws.role_arn, "--stream-arn", aws.stream_arn
    )
    assert result.exit_code == 0, result.stderr
    return aws
