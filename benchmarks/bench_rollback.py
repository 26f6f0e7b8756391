"""Rollback: what going back to model 1 costs, behind the alias and as before versions.

Against a moto server on loopback (started here). The function is deployed
with a stand-in deps layer and the example's model v1, then model v2, so that
version 1 (model 1) and version 2 (model 2) exist and alias ``live`` serves 2.
Then, in the same run:

- mlayer rollback --version 1 behind the alias: one UpdateAlias;
- the relink before versions (what ``rollback`` did until now, and still does
  for a function without the alias): UpdateFunctionConfiguration of
  ``$LATEST``, then polling GetFunction until Lambda has applied it.

Calls are counted through boto3's own event hooks. Against moto, an update
completes at once, so the waits here are the polls it takes, not AWS's seconds:
on AWS, a configuration update is applied asynchronously (LastUpdateStatus
InProgress, commonly a few seconds) and the environments that served the old
configuration are replaced, each new one paying INIT; an alias update takes
effect with its single call.

    .venv/bin/python benchmarks/bench_rollback.py
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import _common as c
import boto3
from bench_update import REGION, Meter, moto_server

from mlayer.aws import Aws
from mlayer.layerbuild.layer import Progress
from mlayer.ops import deploy as deploy_ops
from mlayer.ops import model as model_ops
from mlayer.settings import load_settings

READS = ("Get", "List")


@dataclass
class Measured:
    label: str
    operations: list[str]
    seconds: float

    @property
    def changes(self) -> list[str]:
        return [op for op in self.operations if not op.startswith(READS)]

    @property
    def polls(self) -> int:
        """GetFunction calls: a waiter polling until Lambda has applied an update."""
        return self.operations.count("GetFunction")


def measure(label: str, endpoint: str, work: Callable[[Aws], None]) -> Measured:
    meter = Meter()
    aws = Aws(REGION, endpoint_url=endpoint, session=meter.session())
    started = time.perf_counter()
    work(aws)
    return Measured(label, meter.operations, time.perf_counter() - started)


def main() -> None:
    v1, v2 = c.example_model(1), c.example_model(2)
    deps_zip = c.WORK / "rollback" / "deps-stand-in.zip"
    deps_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(deps_zip, "w") as archive:
        archive.writestr("python/placeholder.py", "")  # the API side does not look inside

    with moto_server() as endpoint:
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=REGION,
            XDG_CACHE_HOME=str(c.WORK / "rollback-cache"),
        )
        setup = boto3.Session(region_name=REGION)
        role = setup.client("iam", endpoint_url=endpoint).create_role(
            RoleName="bench", AssumeRolePolicyDocument=json.dumps({})
        )["Role"]["Arn"]
        kinesis = setup.client("kinesis", endpoint_url=endpoint)
        kinesis.create_stream(StreamName="bench", ShardCount=1)
        stream = kinesis.describe_stream(StreamName="bench")["StreamDescription"]["StreamARN"]
        lam = setup.client("lambda", endpoint_url=endpoint)

        def deployed(name: str) -> None:
            settings = load_settings(
                {"function_name": name, "region": REGION, "endpoint_url": endpoint,
                 "role": role, "stream_arn": stream, "out": str(c.WORK / "rollback" / name)},
                cwd=c.WORK,
            )  # fmt: skip
            aws = Aws(REGION, endpoint_url=endpoint)
            lam.publish_layer_version(
                LayerName=f"{name}-deps", Content={"ZipFile": deps_zip.read_bytes()}
            )
            for model in (v1, v2):
                model_ops.publish_model(settings, model, aws=aws, force=True, progress=Progress())
                deploy_ops.deploy(settings, aws, model_version=None, dry_run=False, on_step=c.log)

        deployed("alias")
        deployed("relink")
        # "relink": as before versions, no alias; rollback then relinks $LATEST.
        lam.delete_alias(FunctionName="relink", Name="live")

        def rollback(name: str) -> Callable[[Aws], None]:
            settings = load_settings({"function_name": name, "endpoint_url": endpoint}, cwd=c.WORK)
            return lambda aws: c.log(
                "; ".join(
                    deploy_ops.rollback(
                        settings, aws, version=1, dry_run=False, on_step=c.log
                    ).plan.describe()
                )
            )

        rows = [
            measure("mlayer rollback --version 1 (alias)", endpoint, rollback("alias")),
            measure("relink $LATEST (before versions)", endpoint, rollback("relink")),
        ]

    print("Rollback to model 1 against moto (same run, same models)")
    print()
    c.print_table(
        ["rollback", "API calls", "changes", "waiter polls", "wall s (moto)"],
        [
            [r.label, len(r.operations), ", ".join(r.changes), r.polls, f"{r.seconds:.3f}"]
            for r in rows
        ],
    )
    print()
    for r in rows:
        print(f"{r.label}: {', '.join(r.operations)}")


if __name__ == "__main__":
    main()
