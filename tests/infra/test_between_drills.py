"""The stack between drills: a 30-minute readiness schedule, the Readiness alarm, a locked-down versioned report bucket
(output ReportBucketName) written when any execution ends, and drill schedules whose role may only start the state
machine. The report function's permissions are exactly the calls it makes (recorded as it runs after a rehearsed
drill), and its code imports nothing the one bundled asset lacks."""

from __future__ import annotations

import ast
import json
import sys
from typing import Any

import boto3
import botocore.session
import pytest

from drsctl.report import publish
from stacks.functions import FUNCTIONS
from tests.infra.conftest import ROOT, of_type
from tests.infra.test_iam import role_statements
from tests.infra.test_stack import function_logical_id, one


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_readiness_runs_every_30_minutes_on_a_schedule_with_the_scheduled_time(resources):
    _, schedule = one(resources, "AWS::Scheduler::Schedule", "ReadinessSchedule")
    assert schedule["ScheduleExpression"] == "rate(30 minutes)"
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [function_logical_id(resources, "readiness"), "Arn"]}
    assert json.loads(schedule["Target"]["Input"]) == {"time": "<aws.scheduler.scheduled-time>"}


def test_one_readiness_alarm_watches_the_plans_that_fail_and_tells_the_topic(resources, template):
    alarms = [a["Properties"] for a in of_type(resources, "AWS::CloudWatch::Alarm").values()]
    (readiness,) = [a for a in alarms if a.get("MetricName") == "PlansFailingReadiness"]
    assert readiness["AlarmName"] == "DrsOrchestrator-Readiness"
    assert readiness["Namespace"] == "DrsOrchestrator/DrsOrchestrator"
    assert readiness["Threshold"] == 1 and readiness["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert readiness["Period"] == 1800
    topic, _ = one(resources, "AWS::SNS::Topic", "MonitoringNotifications")
    assert readiness["AlarmActions"] == [{"Ref": topic}]
    (missed,) = [a for a in alarms if a.get("MetricName") == "DrillMissedRto"]
    assert missed["AlarmActions"] == [{"Ref": topic}]
    assert "ReadinessAlarmName" in template.to_json()["Outputs"]


def test_the_report_bucket_is_encrypted_versioned_private_tls_only_and_keeps_reports_400_days(resources, template):
    logical, bucket = one(resources, "AWS::S3::Bucket", "ReportsBucket")
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 400 and rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 400}
    assert resources[logical]["DeletionPolicy"] == "Retain"
    policies = [p["Properties"] for p in of_type(resources, "AWS::S3::BucketPolicy").values()]
    (policy,) = [p for p in policies if p["Bucket"] == {"Ref": logical}]
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert template.to_json()["Outputs"]["ReportBucketName"]["Value"] == {"Ref": logical}


def test_every_end_of_an_execution_runs_the_report_function(resources):
    _, rule = one(resources, "AWS::Events::Rule", "ReportsExecutionEnded")
    assert rule["EventPattern"]["detail"]["status"] == ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
    assert [t["Arn"] for t in rule["Targets"]] == [
        {"Fn::GetAtt": [function_logical_id(resources, "publish_report"), "Arn"]}
    ]


def test_drill_schedules_start_the_state_machine_and_nothing_else(resources, template):
    outputs = template.to_json()["Outputs"]
    role = outputs["DrillScheduleRoleArn"]["Value"]["Fn::GetAtt"][0]
    trust = resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
    assert trust[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "aws:SourceArn" in trust[0]["Condition"]["ArnLike"]
    statements = [
        s
        for p in of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    machine = next(iter(of_type(resources, "AWS::StepFunctions::StateMachine")))
    assert statements == [{"Action": "states:StartExecution", "Effect": "Allow", "Resource": {"Ref": machine}}]
    (group,) = of_type(resources, "AWS::Scheduler::ScheduleGroup").values()
    assert outputs["DrillScheduleGroupName"]["Value"] == group["Properties"]["Name"]
    assert group["Properties"]["Name"] in json.dumps(trust[0]["Condition"]["ArnLike"]["aws:SourceArn"])


# -- the report function ---------------------------------------------------------------------------------------


def _recorded_actions(calls: list[tuple[str, str]]) -> set[str]:
    session = botocore.session.get_session()
    prefix = {"monitoring": "cloudwatch"}
    actions = set()
    for service, operation in calls:
        metadata = session.get_service_model(service).metadata
        signing = metadata.get("signingName") or metadata["endpointPrefix"]
        actions.add(f"{prefix.get(signing, signing)}:{operation}")
    return actions


def test_the_report_function_is_granted_exactly_the_calls_it_makes(resources, monkeypatch):
    """Its builder reads through clients it is given, which no code analysis follows: its calls are recorded as it
    writes the report of a rehearsed drill (botocore's before-call events on every client it makes)."""
    calls: list[tuple[str, str]] = []
    original = publish._client

    def recording(service: str, region: str | None = None) -> Any:
        made = original(service, region)
        made.meta.events.register(
            "before-call", lambda model, **_: calls.append((model.service_model.service_name, model.name))
        )
        return made

    import yaml

    from drsctl.emulator.scenario import load_scenario
    from drsctl.local import rehearsal
    from lambdas.core.plan import parse_plan

    # its first wave, cleaned up at once: the recovery points then come from the jobs' logs, as for any drill cleaned
    # up (one wave makes every call the report makes: the jobs, their logs, the recovery instances, the history)
    raw = yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text())
    first = raw["Waves"][0]
    plan = parse_plan(
        {
            **raw,
            "ProtectionGroups": [g for g in raw["ProtectionGroups"] if g["GroupId"] == first["ProtectionGroupId"]],
            "Waves": [first],
            "Options": {**raw["Options"], "DrillCleanup": {"AfterMinutes": 0}},
        }
    )
    scenario = load_scenario(ROOT / "examples" / "scenario.yaml")
    monkeypatch.setattr(publish, "_client", recording)
    with rehearsal.local_aws(scenario) as aws:
        aws.load_plan(plan)
        arn = aws.start_execution({"PlanId": plan.PlanId, "ExecutionType": "DRILL"}, "kept-drill")
        aws.wait(arn)
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="reports")
        monkeypatch.setenv("REPORT_BUCKET", "reports")
        kept = publish.publish("kept-drill")
        assert kept["Json"] == "reports/storefront/kept-drill.json" and kept["Metrics"] >= 1
    granted = {
        action
        for statement in role_statements(resources, "publish_report")
        for action in _listed(statement["Action"])
        if not action.startswith(("logs:", "xray:", "sqs:"))  # its logs, traces, and its failed events' queue
    }
    assert _recorded_actions(calls) == granted


def test_the_report_function_imports_only_what_the_bundled_asset_holds():
    """drsctl/report/publish.py runs in Lambda from the one asset (lambdas/, drsctl/report, the pinned packages,
    the runtime's boto3): every module it reaches is one of those or the standard library."""
    allowed_third_party = {"boto3", "botocore", "pydantic", "aws_lambda_powertools", "pydantic_core"}
    seen: set[str] = set()
    todo = ["drsctl.report.publish"]
    third_party: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = ROOT / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / module.replace(".", "/") / "__init__.py"
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                else []
            )
            if isinstance(node, ast.ImportFrom) and node.module:
                names += [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                root = name.split(".")[0]
                if root in ("drsctl", "lambdas"):
                    candidate = ROOT / (name.replace(".", "/") + ".py")
                    if candidate.exists() or (ROOT / name.replace(".", "/") / "__init__.py").exists():
                        todo.append(name)
                elif root not in sys.stdlib_module_names and root != "__future__":
                    third_party.add(root)
    drsctl = {m for m in seen if m.startswith("drsctl")}
    assert drsctl <= {"drsctl", "drsctl.report"} | {m for m in drsctl if m.startswith("drsctl.report.")}, drsctl
    assert third_party <= allowed_third_party, third_party
    assert FUNCTIONS["publish_report"].handler == "drsctl.report.publish.handler"


def test_the_readiness_rate_is_the_context_in_minutes_and_a_bad_one_is_refused_naming_it():
    from stacks.readiness import readiness_minutes

    assert readiness_minutes(None) == 30 and readiness_minutes(15) == 15 and readiness_minutes("60") == 60
    for bad in ("half an hour", 0, "1441", 2.5):
        with pytest.raises(ValueError, match="drs:readinessMinutes") as refused:
            readiness_minutes(bad)
        assert "whole number of minutes from 1 to 1440" in str(refused.value)
