"""Approvals in the sandbox as on AWS: `drsctl run approve` signs its answer with the caller's own credentials and
posts it to the stack's ApprovalUrl, where the sandbox checks the SigV4 signature against its IAM's access keys and
runs the real answer function with the caller's identity. Users created in the sandbox's IAM answer as themselves."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from typer.testing import CliRunner, Result

from drsctl.cli import app
from lambdas.core import records
from tests.operate.conftest import BIN, HANG, SandboxProcess, wait_until

GATED_PLAN = Path(__file__).with_name("gated.yaml")
OPERATOR = "arn:aws:iam::123456789012:user/sandbox-operator"  # the sandbox's default credentials


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def drsctl_as(sandbox: SandboxProcess, credentials: tuple[str, ...], *args: str) -> Result:
    """`drsctl ARGS` with the sandbox's environment, signed with these credentials (key, secret and, for a role's
    session, its token) instead of its default ones."""
    key, secret, *token = credentials
    env = {
        **sandbox.exports,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": token[0] if token else None,
        "COLUMNS": "200",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    records._table_named.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env=env)
    finally:
        records._table_named.cache_clear()


def iam_user(sandbox: SandboxProcess, name: str) -> tuple[str, tuple[str, str]]:
    """An IAM user of the sandbox with an access key: (its ARN, its credentials)."""
    iam = sandbox.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, (key["AccessKeyId"], key["SecretAccessKey"])


def load_plan(sandbox: SandboxProcess, tmp_path: Path, plan_id: str, **approval: Any) -> None:
    plan = yaml.safe_load(GATED_PLAN.read_text())
    plan["PlanId"] = plan_id
    plan["Waves"][1]["Before"][0]["Approval"].update(approval)
    path = tmp_path / f"{plan_id}.yaml"
    path.write_text(yaml.safe_dump(plan))
    loaded = sandbox.drsctl("plan", "load", str(path))
    assert loaded.exit_code == 0, loaded.output


def waiting(sandbox: SandboxProcess, name: str) -> dict[str, Any]:
    """`run show --json` once an approval of `name` waits."""

    def shown() -> dict[str, Any] | None:
        found: dict[str, Any] = _json(sandbox.drsctl("run", "show", name, "--json"))
        return found if found.get("approval") else None

    found: dict[str, Any] = wait_until(shown, f"an approval waiting in {name}")
    return found


def test_two_iam_users_approve_as_themselves_and_the_same_one_twice_counts_once(sandbox, tmp_path):
    alice, alice_keys = iam_user(sandbox, "alice")
    bob, bob_keys = iam_user(sandbox, "bob")
    load_plan(sandbox, tmp_path, "two-approvers", Approvers=2, TimeoutMinutes=600)
    _json(sandbox.drsctl("run", "start", "two-approvers", "--name", "two-1", "--json"))
    shown = waiting(sandbox, "two-1")
    approval = shown["approval"]
    assert {key: approval[key] for key in ("wave", "waveName", "step", "message", "onTimeout", "approversNeeded")} == {
        "wave": 2,
        "waveName": "application",
        "step": "Change board",
        "message": "Start the application tier?",
        "onTimeout": "FAIL",
        "approversNeeded": 2,
    }
    assert approval["askedAt"].endswith("Z") and approval["deadline"].endswith("Z")
    assert approval["deadline"] > approval["askedAt"]
    assert "TaskToken" not in json.dumps(shown)

    first = drsctl_as(sandbox, alice_keys, "run", "approve", "two-1", "--reason", "change 42")
    assert first.exit_code == 0, first.output
    assert f"approval recorded for {alice} (1 of 2 distinct principals); 1 more must approve" in first.output
    twice = drsctl_as(sandbox, alice_keys, "run", "approve", "two-1")
    assert twice.exit_code == 2 and f"{alice} already answered APPROVE" in twice.output
    assert _json(sandbox.drsctl("run", "show", "two-1", "--json"))["approval"]["approvals"][0]["by"] == alice
    second = drsctl_as(sandbox, bob_keys, "run", "approve", "two-1")
    assert second.exit_code == 0 and f"approved by {bob}" in second.output, second.output
    sandbox.wait_for(f"execution two-1: approval 'Change board' of wave 2 answered by {bob}: APPROVED")

    watched = sandbox.drsctl("run", "watch", "two-1", "--interval", "0.2", "--json")
    assert watched.exit_code == 0, watched.output
    step = json.loads(watched.output)["Waves"][1]["Steps"][0]
    assert (step["Status"], step["decision"], step["decidedBy"]) == ("SUCCEEDED", "APPROVE", bob)
    assert [(a["by"], a["reason"]) for a in step["approvals"]] == [(alice, "change 42"), (bob, None)]
    assert step["decidedAt"].endswith("Z")


def test_a_rejection_needs_a_reason_keeps_who_and_why_and_the_drill_ends_failed(sandbox, tmp_path):
    load_plan(sandbox, tmp_path, "rejected", TimeoutMinutes=600)
    _json(sandbox.drsctl("run", "start", "rejected", "--name", "rejected-1", "--json"))
    waiting(sandbox, "rejected-1")
    sandbox.wait_for("execution rejected-1 waits for approval 'Change board' before wave 2 (application)")
    announced = next(line for line in sandbox.seen if "execution rejected-1 waits for approval" in line)
    assert "Start the application tier?" in announced and "deadline " in announced and "on timeout FAIL" in announced
    # piped `run watch` says what is asked, until when, and how to answer
    watcher = subprocess.Popen(
        [BIN / "drsctl", "run", "watch", "rejected-1", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **sandbox.exports, "COLUMNS": "400"},
    )
    try:
        assert watcher.stdout is not None
        line = next(line for line in watcher.stdout if "Approval waiting: Change board" in line)
        refused = sandbox.drsctl("run", "approve", "rejected-1", "--reject")
        assert refused.exit_code == 2 and "--reject needs --reason" in refused.output
        assert _json(sandbox.drsctl("run", "show", "rejected-1", "--json"))["approval"]["approvals"] == []
        rejected = sandbox.drsctl("run", "approve", "rejected-1", "--reject", "--reason", "DB not ready")
        assert rejected.exit_code == 0 and f"rejected by {OPERATOR}" in rejected.output, rejected.output
        assert watcher.wait(timeout=HANG) == 1
    finally:
        watcher.kill()
    assert "Start the application tier?" in line and "deadline 20" in line and "on timeout FAIL" in line
    assert 'drsctl run approve rejected-1 --reason "..."' in line
    ended = _json(sandbox.drsctl("run", "show", "rejected-1", "--json"))
    assert ended["Status"] == "FAILED"
    step = ended["Waves"][1]["Steps"][0]
    assert (step["Status"], step["decision"], step["decidedBy"], step["reason"]) == (
        "REJECTED",
        "REJECT",
        OPERATOR,
        "DB not ready",
    )
    assert OPERATOR in ended["Record"]["ErrorMessage"] and "DB not ready" in ended["Record"]["ErrorMessage"]


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=HANG) as response:  # the sandbox, on 127.0.0.1
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _signed(url: str, body: bytes, key: str, secret: str, service: str = "lambda") -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def test_the_approval_url_refuses_unsigned_and_forged_requests_and_a_cancel_keeps_who_and_why(sandbox, tmp_path):
    load_plan(sandbox, tmp_path, "forged", TimeoutMinutes=600, Approvers=2)
    _json(sandbox.drsctl("run", "start", "forged", "--name", "forged-1", "--json"))
    waiting(sandbox, "forged-1")
    outputs = sandbox.client("cloudformation").describe_stacks(StackName="DrsOrchestrator")["Stacks"][0]["Outputs"]
    url = next(output["OutputValue"] for output in outputs if output["OutputKey"] == "ApprovalUrl")
    assert url.startswith(sandbox.endpoint + "/")
    body = json.dumps(
        {"ExecutionId": "forged-1", "Wave": 2, "Step": {"Phase": "BEFORE", "Index": 0}, "Decision": "APPROVE"}
    ).encode()
    for headers in (
        {"Content-Type": "application/json"},  # unsigned
        _signed(url, body, "sandbox", "not-the-secret"),  # the default key, forged
        _signed(url, body, "AKIANOSUCHKEY0000000", "whatever"),  # a key the sandbox's IAM does not have
        _signed(url, body, "sandbox", "sandbox", service="execute-api"),  # signed for another service
    ):
        status, answered = _post(url, body, headers)
        assert status == 403 and "Forbidden" in answered, (headers, answered)
    tampered = _signed(url, body, "sandbox", "sandbox")
    status, _ = _post(url, body.replace(b"APPROVE", b"REJECT "), tampered)  # the body changed after signing
    assert status == 403
    assert _json(sandbox.drsctl("run", "show", "forged-1", "--json"))["approval"]["approvals"] == []
    # a role's session answers as the role session AWS would name
    session = sandbox.client("sts").assume_role(
        RoleArn="arn:aws:iam::123456789012:role/DrApprover", RoleSessionName="dana"
    )["Credentials"]
    keys = (session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])
    answered = drsctl_as(sandbox, keys, "run", "approve", "forged-1", "--reason", "as the role")
    assert answered.exit_code == 0, answered.output
    role = "arn:aws:sts::123456789012:assumed-role/DrApprover/dana"
    assert _json(sandbox.drsctl("run", "show", "forged-1", "--json"))["approval"]["approvals"][0]["by"] == role
    wrong_token = drsctl_as(sandbox, (*keys[:2], "not-its-token"), "run", "approve", "forged-1")
    assert wrong_token.exit_code == 2 and "AWS refused the answer (403" in wrong_token.output

    cancelled = sandbox.drsctl("run", "cancel", "forged-1", "--reason", "drill window closed")
    assert cancelled.exit_code == 0 and f"(cancelled by {OPERATOR})" in cancelled.output, cancelled.output
    shown = _json(sandbox.drsctl("run", "show", "forged-1", "--json"))
    assert (shown["Status"], shown["cancelledBy"], shown["cancelReason"]) == (
        "CANCELLED",
        OPERATOR,
        "drill window closed",
    )
    assert shown["Record"]["CancelledBy"] == OPERATOR and shown["cancelledAt"].endswith("Z")
    assert f"cancelled by {OPERATOR}" in sandbox.drsctl("run", "show", "forged-1").output
