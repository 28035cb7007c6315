"""In the sandbox as the issue's check starts it (`drsctl sandbox --speed 600`, the example estate): a plan with
`Schedule: {Expression: "rate(1 hour)"}` drills on its own once loaded, and the drill ends, its cleanup included, with
its JSON and HTML report under reports/<PlanId>/ in the report bucket, which `drsctl run report` reads. The next
hour's drill, due while the first still cleans up, is refused, recorded and notified, and keeps no report. Readiness
is evaluated after the load and kept; `plan schedule` turns the schedule off and on.

At 600x an hour is 6 real seconds: the first drill starts 6 s after the load and its 60-minute cleanup takes 6 s
more. Nothing here bounds real time tightly: every wait is for an outcome, with minutes to spare, and nothing asserts
how the drill's waves went (on a starved machine a wave may time out: the drill still ends with its report)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from drsctl.operate.executions import stack_time
from lambdas.core.readiness.model import iso
from tests.operate.conftest import ROOT, SandboxProcess, wait_until

SCHEDULED_PLAN = {
    **yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text()),
    "Schedule": {"Expression": "rate(1 hour)"},
}
REPORT_WAIT = 300  # real seconds: a drill of three waves and an hour's cleanup at 600x, on a loaded machine
FINAL = ("COMPLETED", "PARTIAL", "FAILED", "TIMED_OUT", "CANCELLED")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    running = SandboxProcess("--speed", "600")  # the speed the check uses: an hour is 6 seconds
    try:
        yield running
        running.interrupt()
    finally:
        running.stop()


def _executions(sandbox: SandboxProcess) -> list[dict]:
    listed = sandbox.drsctl("run", "list", "--plan", "storefront", "--json")
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.stdout)


def test_a_scheduled_plan_drills_on_its_own_and_its_report_is_kept(sandbox, tmp_path):
    described = sandbox.client("cloudformation").describe_stacks()
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}
    before_load = iso(stack_time(described))  # the sandbox's time, 600 times faster than this machine's
    sqs = sandbox.client("sqs")
    queue = sqs.create_queue(QueueName="operators")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sandbox.client("sns").subscribe(TopicArn=outputs["NotificationTopicArn"], Protocol="sqs", Endpoint=queue_arn)

    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(SCHEDULED_PLAN))
    loaded = sandbox.drsctl("plan", "load", str(plan_file), "--json")
    assert loaded.exit_code == 0, loaded.output
    answer = json.loads(loaded.stdout)
    assert answer["schedule"]["action"] == "created" and answer["schedule"]["state"] == "ENABLED"
    assert answer["readiness"] == "requested"
    schedule = sandbox.client("scheduler").get_schedule(
        Name="drill-storefront", GroupName=outputs["DrillScheduleGroupName"]
    )
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    assert json.loads(schedule["Target"]["Input"]) == {
        "PlanId": "storefront",
        "ExecutionType": "DRILL",
        "Scheduled": True,
        "StartedBy": outputs["DrillScheduleRoleArn"],
        "Options": {"DrillCleanup": {"AfterMinutes": 60}},
    }

    # Readiness, requested by the load: the example estate is ready, never drilled
    readiness = wait_until(
        lambda: (
            (r := sandbox.drsctl("plan", "readiness", "storefront", "--json")).exit_code == 0 and json.loads(r.stdout)
        ),
        "the readiness of the loaded plan",
    )
    assert readiness["planId"] == "storefront" and readiness["status"] == "WARN"
    assert readiness["evaluatedAt"] >= before_load  # dated in the stack's time, as the scheduled runs are
    assert {f["code"] for f in readiness["findings"]} <= {"DRILL_OVERDUE", "RTO_AT_RISK"}  # the latter once drilled

    # Nobody starts anything: the schedule does, and the drill's report lands in the bucket once it has ended
    s3 = sandbox.client("s3")
    bucket = outputs["ReportBucketName"]

    def kept_reports() -> list[str]:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="reports/storefront/").get("Contents", [])]
        names = {key.rsplit("/", 1)[-1].rsplit(".", 1)[0] for key in keys}
        return sorted(n for n in names if {f"reports/storefront/{n}.json", f"reports/storefront/{n}.html"} <= {*keys})

    (name, *_) = wait_until(kept_reports, "a scheduled drill's report under reports/storefront/", REPORT_WAIT)
    report = json.loads(s3.get_object(Bucket=bucket, Key=f"reports/storefront/{name}.json")["Body"].read())
    assert report["executionId"] == name and report["mode"] == "DRILL" and report["planId"] == "storefront"
    assert report["status"] in FINAL
    assert report["cleanup"]["afterMinutes"] == 60 and report["cleanup"]["status"] not in ("PLANNED", "WAITING")
    html = s3.get_object(Bucket=bucket, Key=f"reports/storefront/{name}.html")["Body"].read().decode()
    assert html.startswith("<!DOCTYPE html>") and name in html
    executions = _executions(sandbox)
    first = min(executions, key=lambda e: e["StartTime"])
    assert first["ExecutionId"] == name, "the first report kept is the first scheduled drill's"
    assert first["startedBy"] == outputs["DrillScheduleRoleArn"]

    # The next hour's drill came while the first cleaned up: refused before it launched, recorded and notified,
    # and no report of its own (the plan's reports are its drills)
    def refused() -> dict | None:
        return next(
            (e for e in _executions(sandbox) if "ScheduledDrillRefusedError" in (e.get("ErrorMessage") or "")), None
        )

    refusal = wait_until(refused, "the refusal of the drill due an hour after the first")
    assert refusal["RecordStatus"] == "FAILED" and refusal["startedBy"] == outputs["DrillScheduleRoleArn"]
    assert name in refusal["ErrorMessage"]  # the drill still running (its waves, or its cleanup)

    def notified() -> bool:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return any(f"{refusal['ExecutionId']} FAILED" in message["Body"] for message in messages)

    wait_until(notified, "the refusal on the topic")
    sandbox.wait_for(f"no report of {refusal['ExecutionId']}: a scheduled drill refused before it started")
    kept = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="reports/storefront/").get("Contents", [])}
    assert not any(refusal["ExecutionId"] in key for key in kept)

    # drsctl run report reads the kept report
    json_file = tmp_path / "report.json"
    reported = sandbox.drsctl("run", "report", name, "--json", str(json_file))
    assert reported.exit_code == 0, reported.output
    assert f"s3://{bucket}/reports/storefront/{name}.html" in reported.stdout
    assert json.loads(json_file.read_text()) == report

    # evaluated now, on request: dated now in the stack's time
    asked = iso(stack_time(sandbox.client("cloudformation").describe_stacks()))
    now = sandbox.drsctl("plan", "readiness", "storefront", "--now", "--json")
    assert now.exit_code == 0, now.output
    assert json.loads(now.stdout)["evaluatedAt"] >= asked

    # plan list shows the plan's readiness and its next drill; plan schedule turns it off and on
    listed = sandbox.drsctl("plan", "list", "--json")
    (plan,) = [p for p in json.loads(listed.stdout) if p["PlanId"] == "storefront"]
    assert plan["readiness"]["status"] in ("WARN", "PASS", "FAIL") and plan["schedule"]["nextDrill"]
    on = sandbox.drsctl("plan", "schedule", "storefront", "--enable")
    assert on.exit_code == 0 and "ENABLED, next drill" in on.stdout
    neither = sandbox.drsctl("plan", "schedule", "storefront")
    assert neither.exit_code == 2
    unscheduled = sandbox.drsctl("plan", "schedule", "no-such-plan", "--enable")
    assert unscheduled.exit_code == 2 and "no drill schedule" in unscheduled.output
    off = sandbox.drsctl("plan", "schedule", "storefront", "--disable", "--json")  # last: nothing more starts
    assert off.exit_code == 0 and json.loads(off.stdout)["state"] == "DISABLED"
    assert json.loads(off.stdout)["nextDrill"] is None
