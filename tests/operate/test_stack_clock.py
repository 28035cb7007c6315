"""What drsctl writes on a record or into a report is timed by the stack's clock, as every other time there: the
sandbox's runs 1,200 times faster than this machine's here, so a time taken from this machine's clock would put a
cleanup at the drill's end, or a report's generation before the drill it reports (both seen in the sandbox)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import yaml

from drsctl.operate.executions import stack_time
from tests.operate.conftest import SPEED

LATER = 120  # seconds of the sandbox's clock between the drill's end and what a test does later

HERE = Path(__file__).parent


def _drill(sandbox, tmp_path: Path, plan_id: str, name: str) -> dict:
    plan = yaml.safe_load((HERE / "gated.yaml").read_text())
    plan.update(PlanId=plan_id, Waves=[{"WaveName": "databases", "ProtectionGroupId": "gated-db"}])
    path = tmp_path / f"{plan_id}.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    assert sandbox.drsctl("plan", "load", str(path)).exit_code == 0
    assert sandbox.drsctl("run", "start", plan_id, "--name", name).exit_code == 0
    watched = sandbox.drsctl("run", "watch", name, "--interval", "0.2")
    assert watched.exit_code == 0, watched.output
    return json.loads(sandbox.drsctl("run", "show", name, "--json").output)


def _stack_now(sandbox, name: str) -> float:
    client = sandbox.client("stepfunctions")
    machine = client.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    arn = machine.replace(":stateMachine:", ":execution:") + f":{name}"
    return stack_time(client.describe_execution(executionArn=arn))


def test_a_cleanup_run_later_is_recorded_when_it_ran(sandbox, tmp_path):
    ended = _drill(sandbox, tmp_path, "clock-cleanup", "clock-c1")["Record"]
    time.sleep(LATER / SPEED)  # two minutes of the sandbox's clock
    before = _stack_now(sandbox, "clock-c1")
    assert before > ended["EndTime"] + LATER / 2
    cleaned = sandbox.drsctl("run", "cleanup", "clock-c1")
    assert cleaned.exit_code == 0, cleaned.output
    cleanup = json.loads(sandbox.drsctl("run", "show", "clock-c1", "--json").output)["Record"]["Cleanup"]
    assert cleanup["Status"] == "COMPLETED" and cleanup["Terminated"] == 2
    assert before - 1 <= cleanup["StartedAt"] <= cleanup["EndedAt"] <= _stack_now(sandbox, "clock-c1") + 1


def test_a_report_is_generated_after_the_drill_it_reports(sandbox, tmp_path):
    ended = _drill(sandbox, tmp_path, "clock-report", "clock-r1")["Record"]
    time.sleep(LATER / SPEED)
    before = _stack_now(sandbox, "clock-r1")
    report_path = tmp_path / "report.json"
    made = sandbox.drsctl("run", "report", "clock-r1", "--json", str(report_path))
    assert made.exit_code == 0, made.output
    report = json.loads(report_path.read_text())
    # the report the stack kept in its bucket as the execution ended: generated then, by the stack's clock
    assert "the report the stack kept" in made.output
    kept = datetime.fromisoformat(report["generatedAt"].replace("Z", "+00:00")).timestamp()
    assert ended["EndTime"] - 1 <= kept <= before + 1
    assert report["source"] == "sandbox"
    # one built now (--started-by builds it anew): generated now, by the stack's clock, not this machine's
    made = sandbox.drsctl("run", "report", "clock-r1", "--json", str(report_path), "--started-by", "the test")
    assert made.exit_code == 0 and "the report the stack kept" not in made.output, made.output
    report = json.loads(report_path.read_text())
    generated = datetime.fromisoformat(report["generatedAt"].replace("Z", "+00:00")).timestamp()
    # Generated in the stack's time, after the drill it reports: when it ended (the report kept in the bucket then,
    # which drsctl run report reads), or now (built anew when it is not kept yet)
    assert ended["EndTime"] <= generated <= _stack_now(sandbox, "clock-r1") + 1
    assert before > ended["EndTime"] + LATER / 2
    assert report["source"] == "sandbox"
