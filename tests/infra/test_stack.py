"""CDK assertions over one shared synth: what is deployed is what is rehearsed, and it is locked down."""

from __future__ import annotations

import json
from typing import Any

from stacks.functions import FUNCTIONS
from stacks.monitoring import RECONCILED_STATUSES
from stacks.workflow import DEFINITION, SUBSTITUTIONS
from tests.infra.conftest import of_type


def deployed_definition(resources: dict[str, Any]) -> str:
    """The state machine's DefinitionString; its ${...} placeholders are resolved by DefinitionSubstitutions."""
    machine = next(iter(of_type(resources, "AWS::StepFunctions::StateMachine").values()))
    definition: str = machine["Properties"]["DefinitionString"]
    return definition


def test_substitutions_point_each_placeholder_at_its_function(resources):
    machine = next(iter(of_type(resources, "AWS::StepFunctions::StateMachine").values()))
    functions = of_type(resources, "AWS::Lambda::Function")
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert set(substitutions) == set(SUBSTITUTIONS)
    for placeholder, key in SUBSTITUTIONS.items():
        logical = substitutions[placeholder]["Fn::GetAtt"][0]
        assert functions[logical]["Properties"]["Handler"] == FUNCTIONS[key][0]


def test_the_deployed_definition_is_the_asl_file_byte_for_byte(resources):
    assert deployed_definition(resources) == DEFINITION.read_text()


def test_every_lambda_is_arm64_python_3_12_or_newer_with_a_timeout_of_at_most_60_s(resources):
    functions = of_type(resources, "AWS::Lambda::Function")
    assert len(functions) == len(FUNCTIONS)
    for function in functions.values():
        properties = function["Properties"]
        assert properties["Timeout"] <= 60
        assert properties["Architectures"] == ["arm64"]
        assert properties["Runtime"] in ("python3.12", "python3.13", "python3.14")
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert {"EXECUTION_HISTORY_TABLE", "EXECUTION_WAVES_TABLE", "EXECUTION_LOCKS_TABLE"} <= set(
            properties["Environment"]["Variables"]
        )


def test_state_machine_is_standard_with_logging_tracing_and_a_timeout(resources):
    machine = next(iter(of_type(resources, "AWS::StepFunctions::StateMachine").values()))["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert json.loads(deployed_definition(resources))["TimeoutSeconds"] == 48 * 3600


def test_tables_have_pitr_encryption_on_demand_retain_and_stable_ids(resources):
    tables = of_type(resources, "AWS::DynamoDB::GlobalTable")
    # Pinned: a changed logical ID makes CloudFormation replace the table, and the records with it.
    assert set(tables) == {
        "RecordsExecutionHistory6B1F4F09",
        "RecordsExecutionLocks088E49F2",
        "RecordsExecutionWaves45D30E7E",
        "RecordsProtectionGroups5199BF87",
        "RecordsRecoveryPlansC4133573",
    }
    for table in tables.values():
        assert table["DeletionPolicy"] == "Retain"
        replica = table["Properties"]["Replicas"][0]
        assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
    history = next(t for name, t in tables.items() if name.startswith("RecordsExecutionHistory"))
    index = history["Properties"]["GlobalSecondaryIndexes"][0]
    assert index["IndexName"] == "PlanExecutionsByTime"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["PlanId", "StartTime"]


def test_no_iam_statement_allows_every_action(resources):
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "*" not in actions
            assert not any(action.endswith(":*") for action in actions)


def test_the_reconcile_rule_matches_exactly_the_statuses_step_functions_ends_on_its_own(resources):
    rules = of_type(resources, "AWS::Events::Rule")
    rule = next(
        r["Properties"] for name, r in rules.items() if name.startswith("MonitoringExecutionEndedByStepFunctions")
    )
    assert rule["EventPattern"]["source"] == ["aws.states"]
    assert rule["EventPattern"]["detail-type"] == ["Step Functions Execution Status Change"]
    assert (
        sorted(rule["EventPattern"]["detail"]["status"])
        == sorted(RECONCILED_STATUSES)
        == ["ABORTED", "FAILED", "TIMED_OUT"]
    )
    reconcile = next(
        name
        for name, f in of_type(resources, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == "lambdas.handlers.reconcile.handler"
    )
    assert any(target["Arn"] == {"Fn::GetAtt": [reconcile, "Arn"]} for target in rule["Targets"])
    notification = next(target for target in rule["Targets"] if "InputTransformer" in target)
    assert "<detail-name>" in notification["InputTransformer"]["InputTemplate"]  # a sentence, not raw JSON


def test_finished_executions_are_notified_too(resources):
    rules = of_type(resources, "AWS::Events::Rule")
    finished = next(r["Properties"] for name, r in rules.items() if name.startswith("MonitoringExecutionFinished"))
    assert finished["EventPattern"]["detail"]["status"] == ["SUCCEEDED"]
    assert [t["Arn"] for t in finished["Targets"]] == [{"Ref": next(iter(of_type(resources, "AWS::SNS::Topic")))}]


def test_alarms_topic_dashboard_and_outputs(template, resources):
    assert len(of_type(resources, "AWS::CloudWatch::Alarm")) == 1 + 2 * len(FUNCTIONS)
    assert len(of_type(resources, "AWS::CloudWatch::Dashboard")) == 1
    assert len(of_type(resources, "AWS::SNS::Topic")) == 1
    outputs = template.to_json()["Outputs"]
    assert {"StateMachineArn", "StateMachineConsoleUrl", "NotificationTopicArn", "ExecutionHistoryTable"} <= set(
        outputs
    )
