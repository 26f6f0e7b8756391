"""One deploy, one immutable function version behind alias ``live``.

Against the moto server (scripts/moto_server.py: moto with its alias-in-mapping
correction) for versions, the alias and the mapping; with botocore's Stubber
for what moto ignores (it leaves SnapStart off, has no provisioned concurrency
and no RevisionId): there the exact requests are checked, not AWS's answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import REGION, Account, assert_one_line_error, run, run_json
from test_deploy_safety import stubbed

from mlayer import executor
from mlayer.aws import Aws
from mlayer.ops.deploy import deploy, rollback
from mlayer.settings import Settings
from mlayer.steps import Plan, PointAlias, PublishVersion, SetProvisionedConcurrency

FN = ("--function-name", "fn")


class Recorder:
    """An Aws on the moto server that records the name of each Lambda call."""

    def __init__(self, aws: Account) -> None:
        session = boto3.Session(region_name=REGION)
        self.operations: list[str] = []
        session.events.register("before-call.lambda", self._record)
        self.aws = Aws(session=session, endpoint_url=aws.endpoint)

    def _record(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)


def alias(aws: Account) -> dict[str, Any]:
    return aws.client("lambda").get_alias(FunctionName="fn", Name="live")  # type: ignore[no-any-return]


def published(aws: Account) -> list[str]:
    versions = aws.client("lambda").list_versions_by_function(FunctionName="fn")["Versions"]
    return [v["Version"] for v in versions if v["Version"] != "$LATEST"]


def served_layers(aws: Account) -> list[str]:
    return [":".join(layer["Arn"].split(":")[-2:]) for layer in aws.served()["Layers"]]


def test_deploy_publishes_a_version_behind_live_and_rollback_is_one_alias_update(
    deployed: Account, model_v2: list[Path]
) -> None:
    """The issue's acceptance, step by step; the mapping keeps its UUID throughout."""
    (mapping,) = deployed.mappings()
    uuid = mapping["UUID"]
    assert mapping["FunctionArn"].endswith(":function:fn:live")
    assert alias(deployed)["FunctionVersion"] == "1" and published(deployed) == ["1"]
    description = deployed.client("lambda").get_function_configuration(
        FunctionName="fn", Qualifier="1"
    )["Description"]
    assert description == "mlayer-version deps=fn-deps:1 model=fn-model:1 label=-"

    run_json("publish-model", *map(str, model_v2), *FN)
    run_json("deploy", *FN)
    assert alias(deployed)["FunctionVersion"] == "2"
    assert served_layers(deployed) == ["fn-deps:1", "fn-model:2"]

    unchanged = run_json("deploy", *FN)
    assert unchanged["steps"] == [] and published(deployed) == ["1", "2"]

    recorder = Recorder(deployed)
    result = rollback(
        Settings(function_name="fn"), recorder.aws, version=1, dry_run=False, on_step=print
    )
    assert result.plan.describe() == [
        "point alias fn:live at version 1 (model fn-model:1) (was version 2)"
    ]
    mutating = [op for op in recorder.operations if not op.startswith(("Get", "List"))]
    assert mutating == ["UpdateAlias"]  # no UpdateFunctionConfiguration, nothing published
    assert alias(deployed)["FunctionVersion"] == "1"
    assert served_layers(deployed) == ["fn-deps:1", "fn-model:1"]
    assert [m["UUID"] for m in deployed.mappings()] == [uuid]
    assert run_json("status", *FN)["alias"]["version"] == "1"


def test_a_function_deployed_before_versions_is_migrated_with_the_same_mapping(
    deployed: Account,
) -> None:
    """As the mlayer before versions left it: no alias, the trigger on the function.
    One deploy publishes, creates the alias and moves the same mapping onto it."""
    lam = deployed.client("lambda")
    for mapping in deployed.mappings():
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
    lam.delete_alias(FunctionName="fn", Name="live")
    old = lam.create_event_source_mapping(
        FunctionName="fn", EventSourceArn=deployed.stream_arn, StartingPosition="LATEST"
    )
    plan = run_json("deploy", *FN, "--dry-run")
    assert any(step.startswith("update trigger") and "-> fn:live" in step for step in plan["steps"])
    assert any("UUID and stream position are kept" in note for note in plan["notes"])

    run_json("deploy", *FN)
    (mapping,) = deployed.mappings()
    assert mapping["UUID"] == old["UUID"]
    assert mapping["FunctionArn"].endswith(":function:fn:live")
    assert alias(deployed)["FunctionVersion"] in published(deployed)
    assert run_json("deploy", *FN)["steps"] == []  # converged


def test_versions_lists_the_function_versions_carrying_each_model(
    deployed: Account, model_v2: list[Path]
) -> None:
    run_json("publish-model", *map(str, model_v2), *FN)
    run_json("deploy", *FN)
    rows = {row["version"]: row for row in run_json("versions", *FN)["versions"]}
    assert rows[1]["function_versions"] == ["1"] and rows[2]["function_versions"] == ["2"]
    assert rows[2]["live"] and not rows[1]["live"]


def test_snapstart_on_python311_is_refused_before_any_call(deployed: Account) -> None:
    before = published(deployed)
    assert_one_line_error(
        run("deploy", *FN, "--snapstart"), "--snapstart needs python3.12 or newer", "python3.11"
    )
    assert published(deployed) == before


# --- what moto ignores: the exact requests, with Stubber ---------------------------------


def test_snapstart_and_provisioned_concurrency_requests_on_python313() -> None:
    """Stubbed: moto leaves SnapStart "None" and has no provisioned concurrency. The
    plan for ``deploy --snapstart --provisioned-concurrency 2`` on python3.13 sends
    SnapStart ApplyOn PublishedVersions, publishes with the code hash and revision
    it wrote, moves the alias and asks for 2 environments on it."""
    from mlayer.steps import UpdateConfiguration

    client, stub = stubbed()
    plan = Plan(
        (
            UpdateConfiguration(
                "fn", (("SnapStart", {"ApplyOn": "None"}, {"ApplyOn": "PublishedVersions"}),)
            ),
            PublishVersion("fn", "c29kYQ==", "mlayer-version deps=d:1 model=m:1 label=-"),
            PointAlias("fn", "live", None, "mlayer-alias previous=1", before="1"),
            SetProvisionedConcurrency("fn", "live", 2, 0),
        ),
        revision_id="r1",
    )
    stub.add_response(
        "update_function_configuration",
        {"RevisionId": "r2"},
        {"FunctionName": "fn", "SnapStart": {"ApplyOn": "PublishedVersions"}, "RevisionId": "r1"},
    )
    stub.add_response("get_function", {"Configuration": {"LastUpdateStatus": "Successful"}})
    stub.add_response("get_function_configuration", {"RevisionId": "r3"})
    stub.add_response(
        "publish_version",
        {"Version": "2"},
        {
            "FunctionName": "fn",
            "CodeSha256": "c29kYQ==",
            "Description": "mlayer-version deps=d:1 model=m:1 label=-",
            "RevisionId": "r3",
        },
    )
    stub.add_response(
        "get_function",
        {"Configuration": {"State": "Active"}},
        {"FunctionName": "fn", "Qualifier": "2"},
    )
    stub.add_response(
        "update_alias",
        {
            "Name": "live",
            "AliasArn": "arn:aws:lambda:eu-west-1:1:function:fn:live",
            "FunctionVersion": "2",
        },
        {
            "FunctionName": "fn",
            "Name": "live",
            "FunctionVersion": "2",
            "Description": "mlayer-alias previous=1",
        },
    )
    stub.add_response(
        "put_provisioned_concurrency_config",
        {},
        {"FunctionName": "fn", "Qualifier": "live", "ProvisionedConcurrentExecutions": 2},
    )
    with stub:
        executor.apply(plan, client, code=bytes)
    stub.assert_no_pending_responses()


def test_a_first_deploy_with_snapstart_on_python313_sends_it_with_every_request_in_order() -> None:
    """Stubbed, as moto leaves SnapStart off: the plan of ``deploy --snapstart
    --runtime python3.13`` for a new function, carried out by the executor, sends
    CreateFunction with SnapStart ApplyOn PublishedVersions, publishes with the
    code hash, creates alias live and maps the stream to the alias."""
    from test_planner import ROLE, STREAM, request, state

    from mlayer.plan import plan_function

    plan, spec = plan_function(request(snapstart=True, runtime="python3.13"), state())
    publish = plan.steps[1]
    assert isinstance(publish, PublishVersion)
    live = "arn:aws:lambda:eu-west-1:123456789012:function:fn:live"
    client, stub = stubbed()
    stub.add_response(
        "create_function",
        {"FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:fn"},
        {
            "FunctionName": "fn", "Architectures": ["x86_64"], "PackageType": "Zip",
            "Role": ROLE, "Runtime": "python3.13", "Handler": "mlayer_handler.lambda_handler",
            "MemorySize": 1024, "Timeout": 60, "Layers": list(spec.layers),
            "Environment": {"Variables": dict(spec.environment)},
            "SnapStart": {"ApplyOn": "PublishedVersions"}, "Code": {"ZipFile": b"zip"},
        },
    )  # fmt: skip
    stub.add_response("get_function", {"Configuration": {"State": "Active"}})
    stub.add_response(
        "publish_version",
        {"Version": "1"},
        {"FunctionName": "fn", "CodeSha256": "code", "Description": publish.description},
    )
    stub.add_response("get_function", {"Configuration": {"State": "Active"}})
    stub.add_response(
        "create_alias",
        {"Name": "live", "AliasArn": live, "FunctionVersion": "1"},
        {
            "FunctionName": "fn",
            "Name": "live",
            "FunctionVersion": "1",
            "Description": "mlayer-alias",
        },
    )
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": []})
    stub.add_response("list_event_source_mappings", {"EventSourceMappings": []})
    stub.add_response(
        "create_event_source_mapping",
        {"UUID": "00000000-0000-0000-0000-000000000001"},
        {"FunctionName": live, "EventSourceArn": STREAM, **spec_trigger(plan)},
    )
    configuration = {
        "FunctionName": "fn", "FunctionArn": f"{live[:-5]}:1", "Role": ROLE,
        "MemorySize": 1024, "Timeout": 60, "CodeSha256": "code", "Version": "1",
        "Layers": [{"Arn": arn} for arn in spec.layers],
        "Environment": {"Variables": dict(spec.environment)},
    }  # fmt: skip
    stub.add_response("get_function_configuration", configuration)  # the read-back
    with stub:
        executor.apply(plan, client, code=lambda: b"zip")
    stub.assert_no_pending_responses()


def spec_trigger(plan: Plan) -> dict[str, Any]:
    """The CreateEventSourceMapping fields of the plan's trigger, but its function."""
    from mlayer.steps import CreateTrigger

    (trigger,) = [s for s in plan.steps if isinstance(s, CreateTrigger)]
    request = trigger.spec.create_request()
    return {k: v for k, v in request.items() if k != "EventSourceArn"}


def test_a_rollback_moves_the_alias_only_if_it_has_not_moved_since_the_plan() -> None:
    """Stubbed: moto ignores UpdateAlias's RevisionId; Lambda refuses a stale one."""
    from mlayer.errors import PartiallyApplied

    client, stub = stubbed()
    point = PointAlias("fn", "live", "1", "mlayer-alias pinned=1 previous=2", before="2",
                       revision_id="alias-rev-1")  # fmt: skip
    stub.add_client_error(
        "update_alias",
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id.",
        http_status_code=412,
        expected_params={
            "FunctionName": "fn", "Name": "live", "FunctionVersion": "1",
            "Description": point.description, "RevisionId": "alias-rev-1",
        },
    )  # fmt: skip
    with stub, pytest.raises(PartiallyApplied, match="changed by someone else since the plan"):
        executor.apply(Plan((point,)), client, code=bytes)
    stub.assert_no_pending_responses()


def test_provisioned_concurrency_zero_removes_it() -> None:
    """Stubbed, as moto has no provisioned concurrency."""
    client, stub = stubbed()
    stub.add_response(
        "delete_provisioned_concurrency_config", {}, {"FunctionName": "fn", "Qualifier": "live"}
    )
    with stub:
        executor.apply(Plan((SetProvisionedConcurrency("fn", "live", 0, 2),)), client, code=bytes)
    stub.assert_no_pending_responses()


def test_a_concurrent_change_between_update_and_publish_stops_the_deploy() -> None:
    """Stubbed: moto ignores PublishVersion's RevisionId; Lambda answers
    PreconditionFailedException, and mlayer publishes nothing it did not write."""
    from mlayer.errors import PartiallyApplied

    client, stub = stubbed()
    publish = PublishVersion("fn", "c29kYQ==", "mlayer-version deps=d:1 model=m:2 label=-")
    stub.add_client_error(
        "publish_version",
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id.",
        http_status_code=412,
        expected_params={
            "FunctionName": "fn",
            "CodeSha256": "c29kYQ==",
            "Description": publish.description,
            "RevisionId": "r1",
        },
    )
    point = PointAlias("fn", "live", None, "mlayer-alias previous=1", before="1")
    with stub, pytest.raises(PartiallyApplied) as stopped:
        executor.apply(Plan((publish, point), revision_id="r1"), client, code=bytes)
    assert "not applied: point alias fn:live at the new version" in str(stopped.value)


def test_deploy_snapstart_python313_plans_the_snapstart_field(deployed: Account) -> None:
    """The planner's side against moto: --snapstart with --runtime python3.13 plans
    the SnapStart field (moto then ignores it, so only the plan is checked)."""
    result = deploy(
        Settings(function_name="fn", runtime="python3.13", snapstart=True),
        Aws(REGION, endpoint_url=deployed.endpoint),
        model_version=None,
        dry_run=True,
        on_step=print,
    )
    (update, *_rest) = result.plan.steps
    assert "SnapStart {'ApplyOn': 'None'} -> {'ApplyOn': 'PublishedVersions'}" in update.describe()


def test_cleanup_keeps_the_newest_function_versions_and_what_they_link(
    deployed: Account, model_v1: list[Path], model_v2: list[Path]
) -> None:
    run_json("publish-model", *map(str, model_v2), *FN)  # model 2
    run_json("deploy", *FN)  # version 2
    run_json("publish-model", *map(str, model_v1), *FN, "--force")  # model 3
    run_json("deploy", *FN)  # version 3, live
    lam = deployed.client("lambda")
    lam.update_function_configuration(FunctionName="fn", MemorySize=512)
    theirs = lam.publish_version(FunctionName="fn")["Version"]  # someone else's: version 4

    result = run("cleanup", *FN, "--keep", "2")
    assert result.exit_code == 0, result.stderr
    assert published(deployed) == ["2", "3", theirs]
    assert "delete function version fn:1" in result.stdout
    assert "keep fn:3: one of the 2 newest, alias live points at it" in result.stdout
    assert f"keep fn:{theirs}: not published by mlayer" in result.stdout
    layers = lam.list_layer_versions(LayerName="fn-model")["LayerVersions"]
    assert sorted(v["Version"] for v in layers) == [2, 3]  # model 1: only version 1 linked it
    assert run_json("rollback", *FN, "--to-previous")["steps"] == [
        "point alias fn:live at version 2 (model fn-model:2) (was version 3)"
    ]


def test_provisioned_concurrency_against_an_endpoint_without_it_says_so_in_one_line(
    deployed: Account,
) -> None:
    """moto has no provisioned concurrency: the read before any change says which
    call the endpoint lacks, and nothing is published."""
    before = published(deployed)
    result = run("deploy", *FN, "--provisioned-concurrency", "1")
    assert_one_line_error(result, "does not serve GetProvisionedConcurrencyConfig", "AWS does")
    assert published(deployed) == before


def test_an_alias_of_that_name_made_by_someone_else_is_never_moved(
    aws: Account, project: Path, small_deps_zip: Path, model_v1: list[Path]
) -> None:
    """A function with its own alias live (not mlayer's): deploy and rollback refuse
    in one line before any change, and the alias stays where its owner put it."""
    lam = aws.client("lambda")
    lam.publish_layer_version(LayerName="fn-deps", Content={"ZipFile": small_deps_zip.read_bytes()})
    run_json("publish-model", *map(str, model_v1), *FN)
    deploy_args = ("--role", aws.role_arn, "--stream-arn", aws.stream_arn)
    run_json("deploy", *FN, *deploy_args, "--alias", "mine")
    lam.create_alias(FunctionName="fn", Name="live", FunctionVersion="1", Description="team")
    before = published(aws)
    assert_one_line_error(
        run("deploy", *FN, *deploy_args, "--memory", "256"),
        "alias fn:live was not created by mlayer",
        "--alias NAME",
    )
    assert_one_line_error(run("rollback", *FN, "--version", "1"), "was not created by mlayer")
    assert published(aws) == before
    assert lam.get_alias(FunctionName="fn", Name="live")["Description"] == "team"
