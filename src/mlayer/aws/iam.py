"""STS (who the caller is) and IAM (the execution role ``deploy --create-role`` manages)."""

from __future__ import annotations

import json
from typing import Any

from mlayer.aws._client import AwsClient
from mlayer.errors import NotFound


class IamCalls(AwsClient):
    def account_id(self) -> str:
        with self._translate("the caller's identity"):
            return str(self._client("sts").get_caller_identity()["Account"])

    def role_arn(self, name: str) -> str | None:
        """The role's ARN, or None when there is no role called ``name``."""
        try:
            with self._translate(f"role {name}"):
                return str(self._client("iam").get_role(RoleName=name)["Role"]["Arn"])
        except NotFound:
            return None

    def role_policy(self, role: str, policy_name: str) -> dict[str, Any] | None:
        """The role's inline policy ``policy_name`` (botocore decodes it), or None."""
        try:
            with self._translate(f"policy {policy_name} of role {role}"):
                reply = self._client("iam").get_role_policy(RoleName=role, PolicyName=policy_name)
        except NotFound:
            return None
        document = reply["PolicyDocument"]
        return json.loads(document) if isinstance(document, str) else dict(document)

    def put_role(
        self, name: str, trust_policy: str, policy_name: str, policy: str, *, create: bool
    ) -> str:
        """Create the role when asked, set its inline policy, and return its ARN."""
        iam = self._client("iam")
        with self._translate(f"role {name}"):
            if create:
                iam.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=trust_policy,
                    Description="Execution role made by mlayer deploy --create-role",
                )
                iam.get_waiter("role_exists").wait(RoleName=name)
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=policy)
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])
