"""OperatorPolicy and ApproverPolicy (stacks/access.py): what they allow, shown by the policy evaluator on the
synthesized documents, and what nothing but a function may hold (answering a task token)."""

from __future__ import annotations

from typing import Any

import pytest

from stacks import iam as permissions
from tests.infra.conftest import _node_22, of_type
from tests.policy_evaluator import Request, allowed
from tests.template_values import resolve

ACCOUNT, REGION = "123456789012", "us-east-1"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:DrsOrchestrator-RecoveryPlan"
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:DrsOrchestrator-RecoveryPlan:drill-1"
RECOVERY_INSTANCE = f"arn:aws:drs:us-west-2:{ACCOUNT}:recovery-instance/i-0123456789abcdef0"
INSTANCE = f"arn:aws:ec2:us-west-2:{ACCOUNT}:instance/i-0123456789abcdef0"
VOLUME = f"arn:aws:ec2:us-west-2:{ACCOUNT}:volume/vol-0123456789abcdef0"
STACK = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/DrsOrchestrator/0b9c5e10-0000-4000-8000-000000000000"
# What a request DRS makes for its caller carries, on what DRS launched
THROUGH_DRS = {
    "aws:ViaAWSService": "true",
    "aws:CalledVia": ["drs.amazonaws.com"],
    "aws:ResourceTag/AWSElasticDisasterRecoveryManaged": "drs.amazonaws.com",
}
SEND_TASK = ("states:SendTaskSuccess", "states:SendTaskFailure")


def _names(resources: dict[str, Any]) -> dict[str, str]:
    """Every resource's Ref and Arn as it would be deployed here (tables by their logical name)."""
    names = {}
    for logical, resource in resources.items():
        names[logical] = MACHINE if resource["Type"] == "AWS::StepFunctions::StateMachine" else logical
        if resource["Type"] == "AWS::DynamoDB::GlobalTable":
            names[f"{logical}.Arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{logical}"
        else:
            names[f"{logical}.Arn"] = f"arn:aws:service:{REGION}:{ACCOUNT}:{logical}"
    return names


def _policy(template: Any, output: str) -> list[dict[str, Any]]:
    rendered = template.to_json()
    resources = rendered["Resources"]
    logical = rendered["Outputs"][output]["Value"]["Ref"]
    statements: list[dict[str, Any]] = resolve(
        resources[logical]["Properties"]["PolicyDocument"]["Statement"], _names(resources)
    )
    return statements


def _table(resources: dict[str, Any], name: str) -> str:
    logical = next(lid for lid in of_type(resources, "AWS::DynamoDB::GlobalTable") if lid.startswith(f"Records{name}"))
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{logical}"


def test_the_operator_may_start_stop_describe_and_clean_up(template, resources):
    operator = _policy(template, "OperatorPolicyArn")
    for request in (
        Request("states:StartExecution", MACHINE),
        Request("states:StopExecution", EXECUTION),
        Request("states:DescribeExecution", EXECUTION),
        Request("states:GetExecutionHistory", EXECUTION),
        Request("cloudformation:DescribeStacks", STACK),
        Request("drs:DescribeJobs", "*"),
        Request("drs:TerminateRecoveryInstances", RECOVERY_INSTANCE),
        Request("drs:DeleteRecoveryInstance", RECOVERY_INSTANCE),  # what DRS does with the operator's credentials
        Request("ec2:TerminateInstances", INSTANCE, THROUGH_DRS),
        Request("ec2:DeleteVolume", VOLUME, THROUGH_DRS),
        Request("ec2:DescribeInstances", "*"),
        Request("dynamodb:PutItem", _table(resources, "RecoveryPlans")),
        Request("dynamodb:Query", _table(resources, "ExecutionHistory") + "/index/PlanExecutionsByTime"),
    ):
        assert allowed(operator, request), request
    for request in (
        Request("ec2:TerminateInstances", INSTANCE),  # not by the operator's own hand
        Request("ec2:TerminateInstances", INSTANCE, {**THROUGH_DRS, "aws:ViaAWSService": "false"}),
        Request("ec2:TerminateInstances", INSTANCE, {"aws:ViaAWSService": "true"}),  # not DRS-managed
        Request("states:StartExecution", MACHINE.replace("DrsOrchestrator-RecoveryPlan", "Other")),
        Request("states:StopExecution", EXECUTION.replace("DrsOrchestrator-RecoveryPlan", "Other")),
        Request("drs:StartRecovery", f"arn:aws:drs:us-east-1:{ACCOUNT}:source-server/s-00000000000000001"),
        Request("dynamodb:DeleteItem", _table(resources, "ExecutionHistory")),
        Request("dynamodb:PutItem", _table(resources, "ExecutionLocks")),
        *(Request(action, "*") for action in SEND_TASK),
    ):
        assert not allowed(operator, request), request


def test_the_approver_reads_what_it_answers_and_nothing_else(template, resources):
    approver = _policy(template, "ApproverPolicyArn")
    for request in (
        Request("states:DescribeExecution", EXECUTION),
        Request("cloudformation:DescribeStacks", STACK),
        Request("dynamodb:Query", _table(resources, "ExecutionWaves")),
        Request("dynamodb:Query", _table(resources, "ExecutionHistory")),
        Request("dynamodb:GetItem", _table(resources, "RecoveryPlans")),
    ):
        assert allowed(approver, request), request
    for request in (
        Request("states:StartExecution", MACHINE),
        Request("states:StopExecution", EXECUTION),
        Request("dynamodb:UpdateItem", _table(resources, "ExecutionWaves")),
        Request("dynamodb:PutItem", _table(resources, "RecoveryPlans")),
        Request("drs:TerminateRecoveryInstances", RECOVERY_INSTANCE),
        *(Request(action, "*") for action in SEND_TASK),
    ):
        assert not allowed(approver, request), request


def test_only_a_function_role_may_answer_a_task_token(resources):
    function_roles = {
        f["Properties"]["Role"]["Fn::GetAtt"][0] for f in of_type(resources, "AWS::Lambda::Function").values()
    }
    for logical, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            documents = [properties["PolicyDocument"]]
            holders = {"a managed policy"}
        elif resource["Type"] == "AWS::IAM::Policy":
            documents = [properties["PolicyDocument"]]
            holders = {role["Ref"] for role in properties["Roles"]} - function_roles
        elif resource["Type"] == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
            holders = {logical} - function_roles
        else:
            continue
        actions = {a for d in documents for s in d["Statement"] for a in _listed(s["Action"])}
        answers = {a for a in actions if a in SEND_TASK or a in ("states:*", "*") or a.startswith("states:SendTask*")}
        assert not (answers and holders), f"{logical} lets {holders} answer task tokens: {answers}"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def answering() -> dict[str, Any]:
    """A small stack: the access policies, and a function allowed to ApproverPolicy as the approval function is."""
    _node_22()
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_stepfunctions as sfn
    from aws_cdk.assertions import Template

    from stacks.access import OperatorAccess
    from stacks.tables import RecordTables

    stack = cdk.Stack(cdk.App(), "Answering")
    tables = RecordTables(stack, "Records", removal_policy=cdk.RemovalPolicy.DESTROY)
    machine = sfn.StateMachine(
        stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "Pass"))
    )
    access = OperatorAccess(stack, "Access", tables=tables, state_machine=machine, state_machine_name="Machine")
    function = lambda_.Function(
        stack,
        "Answer",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): return None"),
    )
    access.allow_answering(function)
    return {
        "resources": Template.from_stack(stack).to_json()["Resources"],
        "approver": stack.resolve(access.approver_policy.managed_policy_arn)["Ref"],
        "operator": stack.resolve(access.operator_policy.managed_policy_arn)["Ref"],
        "function": stack.resolve(function.function_arn)["Fn::GetAtt"][0],
    }


def test_the_approver_may_call_the_answer_functions_url_as_an_iam_authenticated_caller_only(answering):
    """As stacks/recovery_stack.py does with the stack's answer function (checked on the stack in
    tests/operate/test_permissions.py, where `run approve` calls it)."""
    resources = answering["resources"]
    statements = resources[answering["approver"]]["Properties"]["PolicyDocument"]["Statement"]
    invoke = [s for s in statements if "lambda:InvokeFunctionUrl" in _listed(s["Action"])]
    assert invoke == [
        {
            "Action": "lambda:InvokeFunctionUrl",
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [answering["function"], "Arn"]},
        }
    ]
    names = {f"{answering['function']}.Arn": "arn:aws:lambda:us-east-1:1:function:answer"}
    names |= {logical: logical for logical in resources} | {
        f"{lid}.Arn": lid for lid in resources if lid != answering["function"]
    }
    resolved = resolve(statements, names)
    url_call = Request(
        "lambda:InvokeFunctionUrl",
        "arn:aws:lambda:us-east-1:1:function:answer",
        {"lambda:FunctionUrlAuthType": "AWS_IAM"},
    )
    assert allowed(resolved, url_call)
    assert not allowed(resolved, Request(url_call.action, url_call.resource, {"lambda:FunctionUrlAuthType": "NONE"}))
    # function URLs created since October 2025 also need lambda:InvokeFunction: only through the URL
    through_url = Request("lambda:InvokeFunction", url_call.resource, {"lambda:InvokedViaFunctionUrl": "true"})
    assert allowed(resolved, through_url)
    assert not allowed(resolved, Request("lambda:InvokeFunction", url_call.resource))  # around the URL
    operator = resources[answering["operator"]]["Properties"]["PolicyDocument"]["Statement"]
    assert not [s for s in operator if "lambda:InvokeFunctionUrl" in _listed(s["Action"])]


def test_the_operator_may_read_whatever_the_approver_reads():
    for name, actions in permissions.APPROVER_TABLE_ACTIONS.items():
        assert set(actions) <= set(permissions.OPERATOR_TABLE_ACTIONS[name])
    assert set(permissions.APPROVER_EXECUTION_ACTIONS) <= set(permissions.OPERATOR_EXECUTION_ACTIONS)
