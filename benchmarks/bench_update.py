"""Model-only update: what shipping a new model costs in bytes uploaded and API calls.

Against a moto server on loopback (started here), with the function already
deployed with the example's deps layer and model v1, shipping model v2:

- mlayer: ``publish-model`` (v2) then ``deploy``, which relinks only the model
  layer (the same code path as the commands, through ``mlayer.ops``);
- the seed by hand: ``aws lambda publish-layer-version`` for the model zip and
  ``update-function-configuration --layers``;
- re-uploading both layers: the deps zip through S3 again, the model zip,
  and the relink.

Bytes are the Content-Length of every request sent; calls are counted by
``mlayer.aws.Aws.calls``. Wall times are against moto on this machine, which
answers far faster than AWS: compare them with each other only.

    .venv/bin/python benchmarks/bench_update.py [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c
import boto3

from mlayer.aws import Aws
from mlayer.layerbuild.layer import Progress
from mlayer.ops import deploy as deploy_ops
from mlayer.ops import deps as deps_ops
from mlayer.ops import model as model_ops
from mlayer.settings import load_settings

MOTO_SERVER = Path(__file__).resolve().parents[1] / "scripts" / "moto_server.py"

REGION = "eu-west-1"


@contextmanager
def moto_server() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Meter:
    """Counts what goes over the wire, through boto3's own event hooks."""

    bytes_sent: int = 0
    operations: list[str] = field(default_factory=list)

    def session(self) -> boto3.Session:
        session = boto3.Session(region_name=REGION)
        session.events.register("before-call", self._on_call)
        # before-send sees the prepared request, whose headers carry Content-Length
        # also for the streamed parts of an S3 upload.
        session.events.register("before-send", self._on_request)
        return session

    def _on_call(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)

    def _on_request(self, request: Any, **_: Any) -> None:
        length = request.headers.get("Content-Length")
        if length is not None:
            self.bytes_sent += int(length)
        elif isinstance(request.body, bytes | bytearray):
            self.bytes_sent += len(request.body)
        return None  # send it


@dataclass
class Measured:
    label: str
    calls: int
    bytes_sent: int
    seconds: float
    notes: str
    operations: list[str]


def measure(label: str, endpoint: str, notes: str, work: Callable[[Aws], None]) -> Measured:
    meter = Meter()
    aws = Aws(REGION, endpoint_url=endpoint, session=meter.session())
    started = time.perf_counter()
    work(aws)
    seconds = time.perf_counter() - started
    return Measured(label, aws.calls, meter.bytes_sent, seconds, notes, meter.operations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    deps_zip = c.mlayer_deps_zip(args.rebuild)
    v1, v2 = c.example_model(1), c.example_model(2)

    with moto_server() as endpoint:
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=REGION,
            XDG_CACHE_HOME=str(c.WORK / "update-cache"),
        )
        setup = boto3.Session(region_name=REGION)
        iam = setup.client("iam", endpoint_url=endpoint)
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps({}))
        kinesis = setup.client("kinesis", endpoint_url=endpoint)
        kinesis.create_stream(StreamName="bench", ShardCount=1)
        stream = kinesis.describe_stream(StreamName="bench")["StreamDescription"]["StreamARN"]
        setup.client("s3", endpoint_url=endpoint).create_bucket(
            Bucket="bench-layers", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        settings = load_settings(
            {
                "function_name": "bench",
                "region": REGION,
                "endpoint_url": endpoint,
                "bucket": "bench-layers",
                "role": role["Role"]["Arn"],
                "stream_arn": stream,
                "requirements": str(c.REQUIREMENTS),
                "builder": "pip",
                "out": str(deps_zip.parent),
            },
            cwd=c.WORK,
        )
        quiet = Progress()

        # The starting point: deployed with deps:1 and model:1.
        first = Aws(REGION, endpoint_url=endpoint)
        built = deps_ops.build_deps(settings, publish=True, aws=lambda: first, progress=quiet)
        assert built.published is not None and built.zip.path == deps_zip
        model_ops.publish_model(settings, v1, aws=first, force=False, progress=quiet)
        deploy_ops.deploy(settings, first, model_version=None, dry_run=False, on_step=c.log)
        function = first.function("bench")
        assert function is not None
        deps_arn = function.layers[0]
        c.log(f"deployed: {', '.join(function.layers)}")

        model_zip = Path(settings.out) / model_ops.MODEL_ZIP_NAME

        def mlayer_update(aws: Aws) -> None:
            model_ops.publish_model(settings, v2, aws=aws, force=False, progress=quiet)
            result = deploy_ops.deploy(
                settings, aws, model_version=None, dry_run=False, on_step=c.log
            )
            assert result.layers[0] == deps_arn and result.layers[1].endswith(":2")

        def seed_by_hand(aws: Aws) -> None:
            model = aws.publish_layer(
                "bench-model", model_zip, runtime="python3.11", arch="x86_64",
                description="v2", bucket=None, key="",
            )  # fmt: skip
            aws.update_function_configuration("bench", {"Layers": [deps_arn, model.arn]})

        def both_layers(aws: Aws) -> None:
            deps = aws.publish_layer(
                "bench-deps", deps_zip, runtime="python3.11", arch="x86_64",
                description="again", bucket="bench-layers", key="again/deps-layer.zip",
            )  # fmt: skip
            model = aws.publish_layer(
                "bench-model", model_zip, runtime="python3.11", arch="x86_64",
                description="v2", bucket=None, key="",
            )  # fmt: skip
            aws.update_function_configuration("bench", {"Layers": [deps.arn, model.arn]})

        rows = [
            measure(
                "mlayer publish-model + deploy (relink)",
                endpoint,
                "reads first: newest version, function, trigger, gate",
                mlayer_update,
            ),
            measure(
                "seed by hand: publish model layer + update layers",
                endpoint,
                "the two aws CLI calls of the seed's update section",
                seed_by_hand,
            ),
            measure(
                "re-upload both layers + update layers",
                endpoint,
                "deps through S3 (over 50 MB), model direct",
                both_layers,
            ),
        ]

    reupload = rows[-1].bytes_sent
    print(
        f"Model-only update against moto: deps layer {c.human_bytes(deps_zip.stat().st_size)} "
        f"zipped, model v2 {c.human_bytes(model_zip.stat().st_size)} zipped"
    )
    print()
    c.print_table(
        ["update", "API calls", "bytes uploaded", "vs re-upload", "wall s (moto)", "what"],
        [
            [
                r.label,
                r.calls,
                f"{r.bytes_sent:,}",
                f"{r.bytes_sent / reupload:.4f}x",
                f"{r.seconds:.2f}",
                r.notes,
            ]
            for r in rows
        ],
    )
    print()
    for r in rows:
        print(f"{r.label}: {', '.join(r.operations)}")


if __name__ == "__main__":
    main()
