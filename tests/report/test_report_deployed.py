"""The report from a deployed stack's records (`drsctl run report`): built through boto3 clients from DynamoDB,
Step Functions and DRS, here moto's tables and engine and the DRS emulator after a local execution."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import boto3
import jsonschema
import pytest
from botocore.stub import Stubber

from drsctl.local import run
from drsctl.local.rehearsal import local_aws
from drsctl.local.tables import EXECUTION_HISTORY, EXECUTION_WAVES
from drsctl.report import html, rpo
from drsctl.report.deployed import RunReportError, Sources, build_report, source_of
from drsctl.report.schema import report_schema
from lambdas.core import accounts
from lambdas.core import drs as drs_calls
from tests.report.conftest import critical_failure_case

SAME_SERVER_FIELDS = (
    "sourceServerId",
    "status",
    "jobId",
    "recoveryInstanceId",
    "startedAt",
    "error",
    "hostname",
    "recoveryPointAt",
    "rpoSeconds",
)


STARTER = "arn:aws:sts::123456789012:assumed-role/DrOperator/alice"
CANCELLER = "arn:aws:iam::123456789012:user/bob"
CLOUDTRAIL_CALLER = "arn:aws:iam::123456789012:user/scheduler-bot"


def sources() -> Sources:
    return Sources(
        dynamodb=boto3.client("dynamodb"),
        stepfunctions=boto3.client("stepfunctions"),
        drs=lambda target: accounts.client("drs", target, drs_calls.READ_CONFIG),
        history_table=EXECUTION_HISTORY,
        waves_table=EXECUTION_WAVES,
    )


def test_the_deployed_report_says_what_the_rehearsal_says():
    plan, scenario = critical_failure_case()
    with local_aws(scenario) as aws:
        aws.load_plan(plan)
        arn = aws.start_execution(run.execution_input(plan, "DRILL"), "drill-1")
        described = aws.wait(arn)
        aws.deliver_status_change(described)
        rehearsed = run.report(aws, described, "drill-1", "DRILL", time.perf_counter()).to_dict()
        deployed = build_report("drill-1", sources(), started_by="arn:aws:iam::123456789012:user/operator")
        with pytest.raises(RunReportError, match="no record in table ExecutionHistory"):
            build_report("no-such-execution", sources())
    jsonschema.Draft202012Validator(report_schema()).validate(deployed)
    assert deployed["source"] == "deployed" and deployed["startedBy"].endswith("user/operator")
    assert deployed["startedBySource"] == "option"  # no StartedBy on this record, no CloudTrail: as typed
    assert deployed["generator"] == rehearsed["generator"] and deployed["generatedAt"]
    for key in ("status", "mode", "planId", "planName", "startTime", "endTime", "makespanSeconds", "targets"):
        assert deployed[key] == rehearsed[key], key
    for key in ("stateCounts", "transitionCounts", "stateMachine", "rto", "rpo", "serverCounts", "verdict", "activity"):
        assert deployed[key] == rehearsed[key], key
    assert deployed["drsApiCalls"] is None and deployed["historyEvents"] == rehearsed["historyEvents"]
    for mine, theirs in zip(deployed["waves"], rehearsed["waves"], strict=True):
        for key in ("number", "name", "status", "startedAt", "endedAt", "jobIds", "steps", "rto", "rpo", "activity"):
            assert mine[key] == theirs[key], key
        for server, same in zip(mine["servers"], theirs["servers"], strict=True):
            assert {k: server[k] for k in SAME_SERVER_FIELDS} == {k: same[k] for k in SAME_SERVER_FIELDS}
            if server["status"] == "LAUNCHED":  # its job's end: never before DRS launched it
                assert same["launchedAt"] <= server["launchedAt"] <= mine["endedAt"]
    assert 'data-source="deployed"' in html.render(deployed)


def test_a_cleaned_up_drill_keeps_its_recovery_points_and_shows_its_cleanup():
    plan, scenario = critical_failure_case()
    with local_aws(scenario) as aws:
        aws.load_plan(plan)
        described = aws.wait(aws.start_execution(run.execution_input(plan, "DRILL"), "drill-2"))
        waves = aws.waves("drill-2")
        launched = rpo.launched(waves)
        client = boto3.client("drs", region_name="us-east-1")
        before = rpo.recovery_points(launched, lambda target: client)
        terminate = client.terminate_recovery_instances(
            recoveryInstanceIDs=[server.recovery_instance_id for server in launched]
        )
        aws.clock.advance(600)
        aws.drs.advance()
        assert client.describe_recovery_instances()["items"] == []
        after = rpo.recovery_points(launched, lambda target: client)
        # What a build with drill cleanup and resume writes on the record (lambdas/core records: Cleanup, ResumedFrom)
        started = int(aws.clock.now()) - 600
        boto3.client("dynamodb").update_item(
            TableName=EXECUTION_HISTORY,
            Key={"ExecutionId": {"S": "drill-2"}, "PlanId": {"S": plan.PlanId}},
            UpdateExpression="SET Cleanup = :cleanup, ResumedFrom = :resumed, PlanVersion = :version, "
            "StartedBy = :by, CancelledBy = :canceller, CancelReason = :why",
            ExpressionAttributeValues={
                ":cleanup": {
                    "M": {
                        "Status": {"S": "COMPLETED"},
                        "AfterMinutes": {"N": "0"},
                        "JobIds": {"L": [{"S": terminate["job"]["jobID"]}]},
                        "StartedAt": {"N": str(started)},
                        "EndedAt": {"N": str(started + 60)},
                        "Terminated": {"N": str(len(launched))},
                    }
                },
                ":resumed": {"S": "drill-1"},
                # What newer writers record: Prepare the plan's version, run start and run cancel who and why
                ":version": {"S": "3f2a9c41d0be"},
                ":by": {"S": STARTER},
                ":canceller": {"S": CANCELLER},
                ":why": {"S": "the change window closed"},
            },
        )
        deployed = build_report("drill-2", sources(), started_by="typed, never used")
        # Without StartedBy on the record: CloudTrail's StartExecution event for this execution names the caller
        boto3.client("dynamodb").update_item(
            TableName=EXECUTION_HISTORY,
            Key={"ExecutionId": {"S": "drill-2"}, "PlanId": {"S": plan.PlanId}},
            UpdateExpression="REMOVE StartedBy",
        )
        trail = boto3.client("cloudtrail", region_name="us-east-1")
        with Stubber(trail) as stubber:
            event = {
                "userIdentity": {"arn": CLOUDTRAIL_CALLER},
                "responseElements": {"executionArn": described["executionArn"]},
            }
            stubber.add_response("lookup_events", {"Events": [{"CloudTrailEvent": json.dumps(event)}]})
            from_trail = build_report("drill-2", replace(sources(), cloudtrail=trail))
    assert deployed["cleanup"]["status"] == "COMPLETED" and deployed["resumedFrom"] == "drill-1"
    assert (deployed["planVersion"], deployed["startedBy"], deployed["startedBySource"]) == (
        "3f2a9c41d0be",
        STARTER,
        "record",
    )
    assert (deployed["cancelledBy"], deployed["cancelReason"]) == (CANCELLER, "the change window closed")
    assert deployed["cancelledAt"] == deployed["endTime"]  # the record's end (this one ended FAILED, then was marked)
    assert (from_trail["startedBy"], from_trail["startedBySource"]) == (CLOUDTRAIL_CALLER, "cloudtrail")
    page = html.render(deployed)
    assert "3f2a9c41d0be" in page and f"Cancelled by {CANCELLER}: “the change window closed”" in page
    assert f"started by {STARTER} (the caller&#x27;s AWS identity, recorded by drsctl run start)" in page
    assert deployed["cleanup"]["terminated"] == sorted(server.recovery_instance_id for server in launched)
    assert deployed["cleanup"]["jobIds"] == [terminate["job"]["jobID"]]
    jsonschema.Draft202012Validator(report_schema()).validate(deployed)
    assert 'id="gantt-cleanup"' in html.render(deployed)
    assert described["status"] == "FAILED"
    assert set(before) == set(after) == {server.source_server_id for server in launched}
    healthy = next(s.source_server_id for s in launched if s.source_server_id != scenario.servers[0].id)
    assert after[healthy] == before[healthy]  # a replicating server: the launch's own snapshot, in both


def test_records_served_on_this_machine_are_not_a_stack_on_aws():
    def client(endpoint: str | None) -> object:
        return boto3.client(
            "stepfunctions",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )

    assert source_of(client("http://127.0.0.1:4566")) == "sandbox"
    assert source_of(client("http://localhost:4566")) == "sandbox"
    assert source_of(client("http://[::1]:4566")) == "sandbox"
    assert source_of(client(None)) == "deployed"  # states.us-east-1.amazonaws.com
    assert source_of(client("https://vpce-0a1b.states.us-east-1.vpce.amazonaws.com")) == "deployed"
