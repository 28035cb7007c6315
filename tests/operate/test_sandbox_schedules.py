"""In the sandbox (a real `drsctl sandbox --speed 600`): a plan with `Schedule: {Expression: "rate(1 hour)"}` drills
on its own once loaded, and the drill ends with its JSON and HTML report under reports/<PlanId>/ in the report
bucket; readiness is evaluated after the load and kept; `plan schedule` turns the schedule off and on."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from tests.operate.conftest import ROOT, SandboxProcess, wait_until

SCHEDULED_PLAN = {
    **yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text()),
    "Schedule": {"Expression": "rate(1 hour)"},
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    running = SandboxProcess("--speed", "600")  # the speed the check uses: an hour is 6 seconds
    try:
        yield running
        running.interrupt()
    finally:
        running.stop()


def _scheduled_executions(sandbox: SandboxProcess) -> list[dict]:
    listed = sandbox.drsctl("run", "list", "--plan", "storefront", "--json")
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.stdout)


def test_a_scheduled_plan_drills_on_its_own_and_its_report_is_kept(sandbox, tmp_path):
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(SCHEDULED_PLAN))
    loaded = sandbox.drsctl("plan", "load", str(plan_file), "--json")
    assert loaded.exit_code == 0, loaded.output
    answer = json.loads(loaded.stdout)
    assert answer["schedule"]["action"] == "created" and answer["schedule"]["state"] == "ENABLED"
    assert answer["readiness"] == "requested"
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in sandbox.client("cloudformation").describe_stacks()["Stacks"][0]["Outputs"]
    }
    schedule = sandbox.client("scheduler").get_schedule(
        Name="drill-storefront", GroupName=outputs["DrillScheduleGroupName"]
    )
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    target = json.loads(schedule["Target"]["Input"])
    assert target == {
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
    assert readiness["planId"] == "storefront" and readiness["status"] in ("WARN", "PASS")

    # Nobody starts anything: the schedule does, and the drill's report lands in the bucket
    s3 = sandbox.client("s3")
    bucket = outputs["ReportBucketName"]

    def kept_report() -> list[str]:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="reports/storefront/").get("Contents", [])]
        return keys if any(k.endswith(".json") for k in keys) and any(k.endswith(".html") for k in keys) else []

    keys = wait_until(kept_report, "a scheduled drill's report under reports/storefront/", timeout=240)
    name = keys[0].rsplit("/", 1)[-1].rsplit(".", 1)[0]
    assert {f"reports/storefront/{name}.json", f"reports/storefront/{name}.html"} <= set(keys)
    report = json.loads(s3.get_object(Bucket=bucket, Key=f"reports/storefront/{name}.json")["Body"].read())
    assert report["executionId"] == name and report["mode"] == "DRILL" and report["planId"] == "storefront"
    html = s3.get_object(Bucket=bucket, Key=f"reports/storefront/{name}.html")["Body"].read().decode()
    assert html.startswith("<!DOCTYPE html>") and name in html
    execution = next(e for e in _scheduled_executions(sandbox) if e["ExecutionId"] == name)
    assert execution["startedBy"] == outputs["DrillScheduleRoleArn"]

    # drsctl run report reads the kept report
    json_file = tmp_path / "report.json"
    reported = sandbox.drsctl("run", "report", name, "--json", str(json_file))
    assert reported.exit_code == 0, reported.output
    assert f"s3://{bucket}/reports/storefront/{name}.html" in reported.stdout
    assert json.loads(json_file.read_text()) == report

    # plan list shows the plan's readiness and its next drill; plan schedule turns it off and on
    listed = sandbox.drsctl("plan", "list", "--json")
    (plan,) = [p for p in json.loads(listed.stdout) if p["PlanId"] == "storefront"]
    assert plan["readiness"]["status"] in ("WARN", "PASS", "FAIL") and plan["schedule"]["nextDrill"]
    off = sandbox.drsctl("plan", "schedule", "storefront", "--disable", "--json")
    assert off.exit_code == 0 and json.loads(off.stdout)["state"] == "DISABLED"
    assert json.loads(off.stdout)["nextDrill"] is None
    on = sandbox.drsctl("plan", "schedule", "storefront", "--enable")
    assert on.exit_code == 0 and "ENABLED, next drill" in on.stdout
    neither = sandbox.drsctl("plan", "schedule", "storefront")
    assert neither.exit_code == 2
    unscheduled = sandbox.drsctl("plan", "schedule", "no-such-plan", "--enable")
    assert unscheduled.exit_code == 2 and "no drill schedule" in unscheduled.output
