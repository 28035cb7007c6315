"""The approval answer in the template: a function URL that AWS authenticates (AWS_IAM) in front of the one function
that may answer task tokens, its output, and state machine logs that carry no execution data (no task token)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.functions import FUNCTIONS
from tests.infra.conftest import ROOT, of_type
from tests.infra.test_iam import role_statements

SEND_TASK = {"states:SendTaskSuccess", "states:SendTaskFailure"}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _function_logical(resources: dict[str, Any], key: str) -> str:
    functions = of_type(resources, "AWS::Lambda::Function")
    return next(name for name, f in functions.items() if f["Properties"]["Handler"] == FUNCTIONS[key].handler)


def test_the_answer_function_has_a_url_that_aws_authenticates_and_the_stack_outputs_it(template, resources):
    answer = _function_logical(resources, "answer_approval")
    (url,) = of_type(resources, "AWS::Lambda::Url").values()
    assert url["Properties"]["AuthType"] == "AWS_IAM"
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [answer, "Arn"]}
    url_logical = next(iter(of_type(resources, "AWS::Lambda::Url")))
    assert template.to_json()["Outputs"]["ApprovalUrl"]["Value"] == {"Fn::GetAtt": [url_logical, "FunctionUrl"]}
    # no resource policy opens it to anyone: callers need an identity policy (the stack's ApproverPolicy)
    for permission in of_type(resources, "AWS::Lambda::Permission").values():
        assert permission["Properties"]["FunctionName"] != {"Fn::GetAtt": [answer, "Arn"]}
    environment = of_type(resources, "AWS::Lambda::Function")[answer]["Properties"]["Environment"]["Variables"]
    assert environment["STATE_MACHINE_NAME"] == "DrsOrchestrator-RecoveryPlan"  # answers only its own executions


def test_only_the_answer_function_may_answer_a_task_token(resources):
    holders = []
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role"):
        for logical, resource in of_type(resources, kind).items():
            documents = [resource["Properties"].get("PolicyDocument")]
            documents += [inline["PolicyDocument"] for inline in resource["Properties"].get("Policies", [])]
            for document in filter(None, documents):
                for statement in document["Statement"]:
                    actions = set(_listed(statement["Action"]))
                    if actions & SEND_TASK or {"states:*", "*"} & actions:
                        holders.append(logical)
    answer_statements = [
        s for s in role_statements(resources, "answer_approval") if set(_listed(s["Action"])) & SEND_TASK
    ]
    assert len(holders) == 1 and len(answer_statements) == 1
    granted = set(_listed(answer_statements[0]["Action"]))
    assert granted >= SEND_TASK and not {a for a in granted - SEND_TASK if a.startswith("states:")}
    for key in FUNCTIONS:
        if key != "answer_approval":
            assert not [s for s in role_statements(resources, key) if set(_listed(s["Action"])) & SEND_TASK], key


@pytest.fixture(scope="module")
def logging_with_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from stacks.recovery_stack import DrsOrchestratorStack

    context = {
        **json.loads((ROOT / "cdk.json").read_text())["context"],
        "aws:cdk:bundling-stacks": [],
        "drs:logExecutionData": True,
    }
    app = cdk.App(context=context, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    resources: dict[str, Any] = Template.from_stack(DrsOrchestratorStack(app, "DrsOrchestrator")).to_json()["Resources"]
    return next(iter(of_type(resources, "AWS::StepFunctions::StateMachine").values()))["Properties"]


def test_state_machine_logs_carry_execution_data_only_when_the_context_key_asks(resources, logging_with_data):
    machine = next(iter(of_type(resources, "AWS::StepFunctions::StateMachine").values()))["Properties"]
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert json.loads((ROOT / "cdk.json").read_text())["context"]["drs:logExecutionData"] is False
    assert logging_with_data["LoggingConfiguration"]["IncludeExecutionData"] is True
