"""Every AWS call `drsctl run|plan` makes, recorded against the sandbox, is allowed by the stack's policy for the
command's role: OperatorPolicy for the operator's commands, ApproverPolicy for what an approver runs.

The calls are recorded with botocore's event system on the session every CLI client comes from
(drsctl/operate/stack.py stack_session): `before-parameter-build` sees each call's operation and parameters, and its
request context the client's Region. Each call becomes the authorization requests AWS makes of it (its action on its
resource's ARN; a DynamoDB transaction is one request per item). TerminateRecoveryInstances adds what DRS requires of
its caller (the Service Authorization Reference's dependent actions): DRS deletes the recovery instance, terminates the
EC2 instance and deletes its volumes with the caller's credentials, so those requests carry what such requests carry
(aws:ViaAWSService, aws:CalledVia drs, the AWSElasticDisasterRecoveryManaged tag DRS put on what it launched).
`run approve` posts its answer, signed, to the approval URL: Lambda authorizes that as lambda:InvokeFunctionUrl
(AuthType AWS_IAM) and lambda:InvokeFunction (through the URL) on the answer function. The policies come from one
synth of the stack, their intrinsics resolved to the sandbox's names, and the evaluator of
tests/policy_evaluator.py shows each request allowed.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drsctl.commands.plan import plan_app
from drsctl.commands.run import run_app
from drsctl.local.rehearsal import ACCOUNT, function_name
from drsctl.local.tables import TABLE_NAMES
from drsctl.operate import executions as operate_executions
from drsctl.operate import stack as operate_stack
from stacks.functions import FUNCTIONS
from stacks.tables import TABLES
from tests.infra.conftest import of_type, synthesized
from tests.operate.conftest import ROOT, SandboxProcess, wait_until
from tests.policy_evaluator import Request, allowed
from tests.template_values import resolve

EXAMPLE_PLAN = ROOT / "examples" / "plan.yaml"
GATED_PLAN = Path(__file__).with_name("gated.yaml")
SEND_TASK = ("states:SendTaskSuccess", "states:SendTaskFailure")
NO_PERMISSION_NEEDED = {("sts", "GetCallerIdentity")}  # AWS answers it for any caller
# What DRS requires of the caller of TerminateRecoveryInstances (Service Authorization Reference, dependent actions),
# and what its requests for the caller carry.
DRS_ON_BEHALF = {
    "aws:ViaAWSService": "true",
    "aws:CalledVia": ["drs.amazonaws.com"],
    "aws:ResourceTag/AWSElasticDisasterRecoveryManaged": "drs.amazonaws.com",
    "ec2:ResourceTag/AWSElasticDisasterRecoveryManaged": "drs.amazonaws.com",
}
CALLER = {"aws:ViaAWSService": "false", "aws:PrincipalAccount": ACCOUNT}


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
        region = str(context.get("client_region") or "")
        self.calls.append(Call(model.service_model.signing_name, model.name, dict(params), region))

    def take(self) -> list[Call]:
        taken, self.calls = self.calls, []
        return taken


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    """Every client the CLI makes reports its calls here, and so does the signed POST of `run approve` to the
    approval URL (a function URL call, not an SDK client's)."""
    recording = Recorder()

    def recorded_session(region: str | None) -> Any:
        session = operate_stack.StackSession(region_name=region)  # its own, not the process's shared one
        session.events.register("before-parameter-build", recording)
        return session

    posted = operate_executions.post_json

    def recorded_post(url: str, body: dict[str, Any], *, region: str, service: str = "lambda") -> Any:
        recording.calls.append(Call(service, "InvokeFunctionUrl", {"url": url}, region))
        return posted(url, body, region=region, service=service)

    monkeypatch.setattr(operate_stack, "stack_session", recorded_session)
    monkeypatch.setattr(operate_executions, "post_json", recorded_post)
    yield recording


@dataclass
class Sandboxed:
    """The sandbox's names for the stack's resources."""

    machine_arn: str
    stack_id: str
    approval_url: str
    drill_role: str = ""


# The answer function behind the approval URL, and the readiness function, as the sandbox names them
ANSWER_FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function_name('answer_approval')}"
READINESS_FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function_name('readiness')}"


def table_arn(name: str, region: str) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"


def _policies(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Sandboxed]:
    """OperatorPolicy and ApproverPolicy of one synth, as they would read deployed where the sandbox stands."""
    template = synthesized(tmp_path_factory.mktemp("cdk.out"))
    resources = template["Resources"]
    stacks = sandbox.client("cloudformation").describe_stacks(StackName="DrsOrchestrator")["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks["Outputs"]}
    names: dict[str, str] = {}
    machine = next(iter(of_type(resources, "AWS::StepFunctions::StateMachine")))
    names[machine] = outputs["StateMachineArn"]
    for logical in of_type(resources, "AWS::DynamoDB::GlobalTable"):
        table = next(name for name in TABLES if logical.startswith(f"Records{name}"))
        names[f"{logical}.Arn"] = table_arn(TABLE_NAMES[TABLES[table][0]], "us-east-1")
    answer = next(
        logical
        for logical, function in of_type(resources, "AWS::Lambda::Function").items()
        if function["Properties"]["Handler"] == FUNCTIONS["answer_approval"].handler
    )
    names[f"{answer}.Arn"] = ANSWER_FUNCTION
    # between drills: the readiness function, the report bucket, the drill schedules' role (the group is named
    # after the stack, as the sandbox names it)
    readiness = next(
        logical
        for logical, function in of_type(resources, "AWS::Lambda::Function").items()
        if function["Properties"]["Handler"] == FUNCTIONS["readiness"].handler
    )
    names[f"{readiness}.Arn"] = READINESS_FUNCTION
    bucket = template["Outputs"]["ReportBucketName"]["Value"]["Ref"]
    names[f"{bucket}.Arn"] = f"arn:aws:s3:::{outputs['ReportBucketName']}"
    names[bucket] = outputs["ReportBucketName"]
    drill_role = template["Outputs"]["DrillScheduleRoleArn"]["Value"]["Fn::GetAtt"][0]
    names[f"{drill_role}.Arn"] = outputs["DrillScheduleRoleArn"]
    machine_name = resources[machine]["Properties"]["StateMachineName"]
    sandbox_machine_name = outputs["StateMachineArn"].rsplit(":", 1)[1]
    policies = {}
    for output in ("OperatorPolicyArn", "ApproverPolicyArn"):
        document = resources[template["Outputs"][output]["Value"]["Ref"]]["Properties"]["PolicyDocument"]
        # the stack names its state machine after itself; the sandbox's has its own name
        text = json.dumps(resolve(document["Statement"], names)).replace(
            f":{machine_name}:", f":{sandbox_machine_name}:"
        )
        policies[output] = json.loads(text)
    return policies, Sandboxed(
        outputs["StateMachineArn"], stacks["StackId"], outputs["ApprovalUrl"], outputs["DrillScheduleRoleArn"]
    )


def requests(call: Call, sandboxed: Sandboxed) -> list[Request]:
    """The authorization requests AWS makes of one call (and, for TerminateRecoveryInstances, of what DRS does)."""
    action = f"{call.service}:{call.operation}"
    if (call.service, call.operation) in NO_PERMISSION_NEEDED:
        return []
    if call.service == "dynamodb":
        return _dynamodb(call)
    if action == "drs:TerminateRecoveryInstances":
        return _terminate(call)
    if action == "lambda:InvokeFunctionUrl":  # Lambda authorizes both actions for a function URL (AWS_IAM)
        assert call.params["url"] == sandboxed.approval_url, call
        return [
            Request(action, ANSWER_FUNCTION, {**CALLER, "lambda:FunctionUrlAuthType": "AWS_IAM"}),
            Request("lambda:InvokeFunction", ANSWER_FUNCTION, {**CALLER, "lambda:InvokedViaFunctionUrl": "true"}),
        ]
    if call.service in ("scheduler", "s3") or action == "lambda:Invoke":
        return _between_drills(call, sandboxed)
    if action in SEND_TASK or action.startswith("drs:Describe"):
        resource = "*"  # SendTask*: not scoped to a resource (whoever holds the action and a token answers it)
    elif call.service == "states":
        resource = call.params.get("executionArn") or call.params["stateMachineArn"]
    elif action == "cloudformation:DescribeStacks":
        assert call.params["StackName"] in ("DrsOrchestrator", sandboxed.stack_id)
        resource = sandboxed.stack_id
    else:
        raise AssertionError(f"{action}: a call this test does not know how AWS authorizes; teach it")
    return [Request(action, resource, CALLER)]


def _between_drills(call: Call, sandboxed: Sandboxed) -> list[Request]:
    """A plan's drill schedule (CreateSchedule and UpdateSchedule pass it the drill role), the readiness function's
    invocation, the kept readiness and reports."""
    params = call.params
    if call.service == "scheduler":
        if call.operation == "ListSchedules":
            return [Request("scheduler:ListSchedules", "*", CALLER)]
        schedule = f"arn:aws:scheduler:{call.region}:{ACCOUNT}:schedule/{params['GroupName']}/{params['Name']}"
        found = [Request(f"scheduler:{call.operation}", schedule, CALLER)]
        if call.operation in ("CreateSchedule", "UpdateSchedule"):
            assert params["Target"]["RoleArn"] == sandboxed.drill_role, params
            passed = {**CALLER, "iam:PassedToService": "scheduler.amazonaws.com"}
            found.append(Request("iam:PassRole", params["Target"]["RoleArn"], passed))
        return found
    if call.service == "lambda":
        assert params["FunctionName"].endswith(function_name("readiness")), params
        return [Request("lambda:InvokeFunction", READINESS_FUNCTION, CALLER)]
    if call.operation == "GetObject":
        return [Request("s3:GetObject", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}", CALLER)]
    if call.operation == "ListObjectsV2":
        return [Request("s3:ListBucket", f"arn:aws:s3:::{params['Bucket']}", {**CALLER, "s3:prefix": params["Prefix"]})]
    raise AssertionError(f"{call}: a call this test does not know how AWS authorizes; teach it")


def _terminate(call: Call) -> list[Request]:
    """TerminateRecoveryInstances on each instance, and what DRS then does with the caller's credentials."""
    found = []
    on_behalf = {**DRS_ON_BEHALF, "aws:PrincipalAccount": ACCOUNT}
    for instance in call.params["recoveryInstanceIDs"]:
        recovery_instance = f"arn:aws:drs:{call.region}:{ACCOUNT}:recovery-instance/{instance}"
        found += [
            Request("drs:TerminateRecoveryInstances", recovery_instance, CALLER),
            Request("drs:DeleteRecoveryInstance", recovery_instance, on_behalf),
            Request("ec2:DescribeInstances", "*", on_behalf),
            Request("ec2:DescribeVolumes", "*", on_behalf),
            Request("ec2:TerminateInstances", f"arn:aws:ec2:{call.region}:{ACCOUNT}:instance/{instance}", on_behalf),
            Request("ec2:DeleteVolume", f"arn:aws:ec2:{call.region}:{ACCOUNT}:volume/vol-0{instance[2:]}", on_behalf),
        ]
    return found


def _dynamodb(call: Call) -> list[Request]:
    params = call.params
    if call.operation == "TransactWriteItems":
        kinds = {
            "Put": "PutItem",
            "Delete": "DeleteItem",
            "Update": "UpdateItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        return [
            Request(f"dynamodb:{kinds[kind]}", table_arn(item[kind]["TableName"], call.region), CALLER)
            for item in params["TransactItems"]
            for kind in item
        ]
    if call.operation in ("BatchWriteItem", "BatchGetItem"):
        return [
            Request(f"dynamodb:{call.operation}", table_arn(table, call.region), CALLER)
            for table in params["RequestItems"]
        ]
    arn = table_arn(params["TableName"], call.region)
    if params.get("IndexName"):
        arn = f"{arn}/index/{params['IndexName']}"
    return [Request(f"dynamodb:{call.operation}", arn, CALLER)]


@pytest.fixture(scope="module")
def policies(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Sandboxed]:
    return _policies(sandbox, tmp_path_factory)


def test_every_call_of_every_command_is_allowed_by_the_policy_of_its_role(sandbox, policies, recorder):
    documents, sandboxed = policies
    operator, approver = documents["OperatorPolicyArn"], documents["ApproverPolicyArn"]
    run_commands: set[str] = set()
    seen: set[str] = set()

    def drsctl(*args: str, role: str = "operator", exit_code: int = 0) -> Any:
        """Run it; `role`: operator (OperatorPolicy), approver (a read both policies allow), answer (ApproverPolicy
        only: answering an approval)."""
        result = sandbox.drsctl(*args)
        assert result.exit_code == exit_code, f"{args}: {result.output}"
        (run_commands if args[0] == "run" else plan_commands).add(args[1])
        for call in recorder.take():
            for request in requests(call, sandboxed):
                seen.add(request.action)
                assert request.action not in SEND_TASK, f"drsctl {' '.join(args)} answers a task token itself"
                # the reads are both roles'; answering is the approver's alone, starting and stopping the operator's
                for name, policy in (("OperatorPolicy", operator), ("ApproverPolicy", approver)):
                    if name == "ApproverPolicy" and role == "operator":
                        continue
                    if name == "OperatorPolicy" and request.resource == ANSWER_FUNCTION:
                        assert not allowed(policy, request), f"OperatorPolicy may answer approvals: {request}"
                        continue
                    assert allowed(policy, request), f"drsctl {' '.join(args)}: {name} denies {request}"
        return result

    plan_commands: set[str] = set()
    drsctl("plan", "validate", str(EXAMPLE_PLAN))  # DRS in the account (here the sandbox's)
    drsctl("plan", "load", str(EXAMPLE_PLAN))
    drsctl("plan", "list", role="approver")
    drsctl("plan", "show", "storefront", role="approver")
    drsctl("plan", "diff", str(EXAMPLE_PLAN))
    drsctl("run", "start", "storefront", "--name", "perm-drill")
    drsctl("run", "watch", "perm-drill", "--interval", "0.2", role="approver")
    drsctl("run", "list", role="approver")
    drsctl("run", "list", "--plan", "storefront", "--status", "completed", role="approver")
    drsctl("run", "show", "perm-drill", role="approver")
    drsctl("run", "cleanup", "perm-drill")
    folder = Path(tempfile.mkdtemp())
    drsctl("run", "report", "perm-drill", "--json", str(folder / "report.json"))

    # between drills: a plan's readiness (kept, and asked for now), its drill schedule turned off and on
    drsctl("plan", "readiness", "storefront", "--now")
    drsctl("plan", "readiness", "storefront", role="approver")
    scheduled = folder / "scheduled.yaml"
    scheduled.write_text(
        EXAMPLE_PLAN.read_text().replace("PlanId: storefront", "PlanId: scheduled")
        + 'Schedule: {Expression: "cron(0 6 ? * MON#1 *)"}\n'
    )
    drsctl("plan", "load", str(scheduled))
    drsctl("plan", "schedule", "scheduled", "--disable")
    drsctl("plan", "schedule", "scheduled", "--enable")
    drsctl("plan", "list", role="approver")

    drsctl("plan", "load", str(GATED_PLAN))
    drsctl("run", "start", "gated", "--name", "perm-gated")
    wait_until(lambda: _waiting(sandbox, "perm-gated"), "an approval waiting in perm-gated")
    recorder.take()  # the waiting's own reads (a plain `run show`, recorded above)
    drsctl("run", "cancel", "perm-gated", "--reason", "change window moved")
    drsctl("run", "resume", "perm-gated", "--name", "perm-resumed")
    wait_until(lambda: _waiting(sandbox, "perm-resumed"), "an approval waiting in perm-resumed")
    recorder.take()
    drsctl("run", "approve", "perm-resumed", "--reason", "change 42", role="answer")
    drsctl("run", "watch", "perm-resumed", "--interval", "0.2", role="approver")

    # every command of `drsctl run` and `drsctl plan` was run, and what the hidden review checks was among the calls
    assert run_commands == {command.name or command.callback.__name__ for command in run_app.registered_commands}
    assert plan_commands == {command.name or command.callback.__name__ for command in plan_app.registered_commands}
    assert {
        "states:StartExecution",
        "states:StopExecution",
        "states:DescribeExecution",
        "drs:TerminateRecoveryInstances",
        "ec2:TerminateInstances",
        "cloudformation:DescribeStacks",
        "lambda:InvokeFunctionUrl",
        "lambda:InvokeFunction",
    } <= seen


def _waiting(sandbox: SandboxProcess, name: str) -> bool:
    shown = sandbox.drsctl("run", "show", name, "--json")
    return shown.exit_code == 0 and bool(json.loads(shown.output)["PendingApprovals"])


def test_a_request_outside_the_policies_is_denied_as_it_would_be(policies):
    """The same resolution and evaluator refuse what the policies do not grant: the test above can fail."""
    documents, sandboxed = policies
    operator, approver = documents["OperatorPolicyArn"], documents["ApproverPolicyArn"]
    other_machine = sandboxed.machine_arn.replace(":stateMachine:", ":stateMachine:other-")
    assert not allowed(operator, Request("states:StartExecution", other_machine, CALLER))
    assert not allowed(approver, Request("states:StartExecution", sandboxed.machine_arn, CALLER))
    locks = table_arn(TABLE_NAMES["EXECUTION_LOCKS_TABLE"], "us-east-1")
    assert not allowed(operator, Request("dynamodb:DeleteItem", locks, CALLER))
    instance = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0000000000000000a"
    assert not allowed(operator, Request("ec2:TerminateInstances", instance, CALLER))  # only DRS, for the operator
    assert allowed(operator, Request("ec2:TerminateInstances", instance, DRS_ON_BEHALF))
