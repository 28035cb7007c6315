"""`drsctl rehearse` as an operator runs it: exit codes, output, and the --json report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from drsctl.cli import app

ROOT = Path(__file__).resolve().parents[1]
REPORT_KEYS = {
    "status",
    "executionId",
    "mode",
    "makespanSeconds",
    "criticalPathSeconds",
    "overheadRatio",
    "maxLambdaSeconds",
    "lambdaInvocations",
    "historyEvents",
    "historyEventsTotal",
    "stateTransitions",
    "maxPayloadBytes",
    "drsApiCalls",
    "waves",
}


@pytest.fixture(autouse=True)
def piped(monkeypatch):
    """Output as when piped from a shell: no COLUMNS (pytest-xdist sets COLUMNS=80 in its workers)."""
    monkeypatch.delenv("COLUMNS", raising=False)


def test_default_rehearsal_completes_and_writes_the_report(tmp_path):
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["rehearse", "--json", str(report_path)])
    assert result.exit_code == 0, result.output
    assert "wave 3: COMPLETED" in result.output
    assert "s-0000000000adb0001 LAUNCHED" not in result.output  # per-wave lines by default
    assert "Execution rehearsal-storefront-drill: COMPLETED" in result.output
    report = json.loads(report_path.read_text())
    assert set(report) >= REPORT_KEYS
    assert report["status"] == "COMPLETED"
    assert [w["name"] for w in report["waves"]] == ["databases", "application", "web"]
    assert report["waves"][0]["servers"][0].keys() >= {
        "sourceServerId",
        "status",
        "launchStatus",
        "recoveryInstanceId",
        "jobId",
    }
    assert 1.0 <= report["overheadRatio"] <= 1.03
    assert report["historyEvents"] < 1_000
    assert 0 < report["maxItemBytes"] < 100 * 1024
    # wall plus slept time is at least the wall time (measured a moment apart: to a millisecond)
    assert report["maxLambdaVirtualSeconds"] >= report["maxLambdaSeconds"] - 0.001 > 0


def test_servers_shows_each_server_with_its_reason(tmp_path):
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    scenario["servers"][-1]["faults"] = ["launch_failure"]
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    result = CliRunner().invoke(app, ["rehearse", "--scenario", str(path), "--servers"])
    assert "s-0000000000adb0001 (db-1) LAUNCHED as i-" in result.output  # per-server progress, with the hostname
    failed, host = scenario["servers"][-1]["id"], scenario["servers"][-1]["hostname"]
    assert f"{failed} ({host}) FAILED: LAUNCH_FAILED" in result.output
    # The servers table when piped: ID, host, status, reason, job and times on one line.
    row = next(line for line in result.output.splitlines() if failed in line and "drsjob-" in line)
    assert host in row and "LAUNCH_FAILED" in row and "+00:" in row


def test_a_partial_rehearsal_exits_1(tmp_path):
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    scenario["servers"][-1]["faults"] = ["launch_failure"]  # a web server; the web wave is OPTIONAL
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    result = CliRunner().invoke(app, ["rehearse", "--scenario", str(path)])
    assert result.exit_code == 1
    assert "PARTIAL" in result.output
    assert f"{scenario['servers'][-1]['id']} (job(s) drsjob-" in result.output  # the wave's cause names it


def test_an_invalid_plan_file_exits_2_naming_the_field(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("PlanId: x\nName: x\nProtectionGroups: []\nWaves: []\n")
    result = CliRunner().invoke(app, ["rehearse", str(path)])
    assert result.exit_code == 2
    assert "ProtectionGroups: List should have at least 1 item" in result.output


def test_a_plan_that_fails_preflight_exits_2(tmp_path):
    plan = yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text())
    plan["ProtectionGroups"][0]["Region"] = "eu-west-1"
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    result = CliRunner().invoke(app, ["rehearse", str(path)])
    assert result.exit_code == 2
    assert "is not a DRS source server in eu-west-1" in result.output


def test_plan_validate_against_the_emulator_passes_for_the_example():
    result = CliRunner().invoke(
        app,
        [
            "plan",
            "validate",
            str(ROOT / "examples" / "plan.yaml"),
            "--scenario",
            str(ROOT / "examples" / "scenario.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "the plan can run" in result.output


def test_plan_validate_lists_every_problem_and_exits_2(tmp_path):
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    scenario["servers"][0]["replication"] = "DISCONNECTED"
    scenario["servers"] = [s for s in scenario["servers"] if s["hostname"] != "db-3"]
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    result = CliRunner().invoke(
        app, ["plan", "validate", str(ROOT / "examples" / "plan.yaml"), "--scenario", str(path)]
    )
    assert result.exit_code == 2
    assert "2 problem(s)" in result.output
    assert "s-0000000000adb0001 is not replicating (dataReplicationState DISCONNECTED" in result.output
    assert "s-0000000000adb0003 is not a DRS source server in us-east-1" in result.output


def test_plan_validate_refuses_a_hook_whose_wave_state_could_pass_256_kib_naming_wave_step_and_bytes(tmp_path):
    plan = yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text())
    plan["Waves"][1]["Before"] = [{"Name": "Drain", "Lambda": {"FunctionName": "drs-hook-drain"}}]
    plan["Options"] |= {"MaxServersInActiveJobs": 800, "MaxConcurrentJobs": 20}
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    scenario["servers"] += [
        {
            "id": f"s-{n:017x}",
            "hostname": f"app-{n:04d}".ljust(250, "x"),
            "tags": {"Tier": "app", "Application": "storefront"},
        }
        for n in range(700)
    ]
    scenario["functions"] = {"drs-hook-drain": {"seconds": 5}}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    result = CliRunner().invoke(
        app, ["plan", "validate", str(tmp_path / "plan.yaml"), "--scenario", str(tmp_path / "scenario.yaml")]
    )
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "the state of wave 2 ('application'), Before[0] ('Drain') could reach" in output
    assert "more than the 262,144 (256 KiB) Step Functions carries in a state" in output
    assert "The hook's event lists the wave's 705 servers with their hostnames and recovery instances" in output


def test_plan_validate_refuses_a_schema_error_offline(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(
        "PlanId: p\nName: n\nProtectionGroups: [{GroupId: g, Region: us-east-1}]\n"
        "Waves: [{WaveName: w, ProtectionGroupId: g}]\n"
    )
    result = CliRunner().invoke(app, ["plan", "validate", str(path)])
    assert result.exit_code == 2
    assert "exactly one of SourceServerIds or Selector" in result.output


def test_plan_validate_json_says_whether_the_plan_can_run_and_its_version(tmp_path):
    from lambdas.core.plan import parse_plan
    from lambdas.core.plan_version import plan_version

    path = ROOT / "examples" / "plan.yaml"
    scenario = ROOT / "examples" / "scenario.yaml"
    result = CliRunner().invoke(app, ["plan", "validate", str(path), "--scenario", str(scenario), "--json"])
    assert result.exit_code == 0, result.output
    checked = json.loads(result.output)
    assert checked["planVersion"] == plan_version(parse_plan(yaml.safe_load(path.read_text())))
    assert checked["CanRun"] is True and checked["Problems"] == [] and checked["Mode"] == "DRILL"
    assert [(w["WaveName"], w["Region"], w["Servers"]) for w in checked["Waves"]] == [
        ("databases", "us-east-1", 4),
        ("application", "us-east-1", 5),
        ("web", "us-west-2", 5),
    ]
    broken = yaml.safe_load(path.read_text())
    broken["ProtectionGroups"][0]["SourceServerIds"][0] = "s-0000000000000dead"
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    bad = CliRunner().invoke(
        app, ["plan", "validate", str(tmp_path / "broken.yaml"), "--scenario", str(scenario), "--json"]
    )
    assert bad.exit_code == 2, bad.output
    refused = json.loads(bad.output)
    assert refused["CanRun"] is False and any("s-0000000000000dead" in p for p in refused["Problems"])


def test_plan_load_stores_the_plan_where_prepare_reads_it():
    import boto3
    from moto import mock_aws

    from drsctl.local.tables import TABLES

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        for variable, name in (("PROTECTION_GROUPS_TABLE", "pg"), ("RECOVERY_PLANS_TABLE", "rp")):
            dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **TABLES[variable])
        result = CliRunner().invoke(
            app,
            [
                "plan",
                "load",
                str(ROOT / "examples" / "plan.yaml"),
                "--protection-groups-table",
                "pg",
                "--recovery-plans-table",
                "rp",
            ],
            env={"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"},
        )
        assert result.exit_code == 0, result.output
        assert "plan storefront stored: 3 protection group(s), 3 wave(s)" in result.output
        stored = (
            boto3.resource("dynamodb", region_name="us-east-1")
            .Table("rp")
            .get_item(Key={"PlanId": "storefront"})["Item"]
        )
        assert [w["WaveName"] for w in stored["Waves"]] == ["databases", "application", "web"]
        assert (
            boto3.resource("dynamodb", region_name="us-east-1")
            .Table("pg")
            .get_item(Key={"GroupId": "storefront-web"})["Item"]["Region"]
            == "us-west-2"
        )


def test_plan_load_by_table_names_checks_a_changed_plan_against_the_stack_or_needs_force(tmp_path):
    import boto3
    from moto import mock_aws

    from drsctl.local.tables import TABLES

    plan = yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text())
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({**plan, "Name": "Renamed"}))
    tables = ["--protection-groups-table", "pg", "--recovery-plans-table", "rp"]
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}
    # no stack to ask: CloudFormation at a port nothing listens on
    env |= {"AWS_ENDPOINT_URL_CLOUDFORMATION": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        for variable, name in (("PROTECTION_GROUPS_TABLE", "pg"), ("RECOVERY_PLANS_TABLE", "rp")):
            dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **TABLES[variable])
        first = CliRunner().invoke(app, ["plan", "load", str(ROOT / "examples" / "plan.yaml"), *tables], env=env)
        assert first.exit_code == 0 and "plan storefront is new (version " in first.output, first.output
        # a changed plan: whether an execution runs it is asked of the stack's state machine, which is not there
        refused = CliRunner().invoke(app, ["plan", "load", str(changed), *tables], env=env)
        assert refused.exit_code == 2, refused.output
        assert "cannot check whether an execution of plan storefront is running" in refused.output
        assert "+Name: Renamed" in refused.output and "--force" in refused.output
        stored = boto3.resource("dynamodb", region_name="us-east-1").Table("rp").get_item(Key={"PlanId": "storefront"})
        assert stored["Item"]["Name"] == plan["Name"]
        forced = CliRunner().invoke(app, ["plan", "load", str(changed), *tables, "--force", "--json"], env=env)
        assert forced.exit_code == 0, forced.output
        assert json.loads(forced.output)["Changed"] is True
        stored = boto3.resource("dynamodb", region_name="us-east-1").Table("rp").get_item(Key={"PlanId": "storefront"})
        assert stored["Item"]["Name"] == "Renamed"


def test_a_plan_that_could_run_past_48_hours_is_refused_before_any_launch(tmp_path):
    plan = yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text())
    # 3 waves x 17 h, and 2.4 h for Prepare, the locks, Finalize and Record failure retried at their worst: 53.4 h,
    # past the state machine's 48 h TimeoutSeconds
    plan["Options"] = {"WaveTimeoutMinutes": 17 * 60, "ExpectedJobMinutes": 10}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["rehearse", str(path), "--json", str(report_path)])
    assert result.exit_code == 2, result.output
    report = json.loads(report_path.read_text())
    assert report["stepFunctionsError"] == "PlanValidationError"
    assert report["startRecoveryCalls"] == 0
    message = " ".join(report["errorMessage"].split())
    assert "could run 53.4 h (3 waves x 1020 min WaveTimeoutMinutes, plus 10 s per wave and 2.4 h for Prep" in message
    assert "more than the 48 h an execution may run" in message
    assert (
        "Lower Options.WaveTimeoutMinutes to at most 911, or split the plan. DRS jobs this execution started: none."
        in message
    )
    assert message.endswith("then start the execution again.")


def _example_plan_with(tmp_path: Path, **wave_changes) -> Path:
    plan = yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text())
    plan["Waves"][0].update(wave_changes)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_a_hook_whose_function_the_scenario_does_not_play_is_refused_before_the_rehearsal(tmp_path):
    path = _example_plan_with(tmp_path, Before=[{"Lambda": {"FunctionName": "drs-hook-promote"}}])
    result = CliRunner().invoke(app, ["rehearse", str(path)])
    assert result.exit_code == 2, result.output
    assert "Before[0]: function 'drs-hook-promote' is not in the scenario's functions" in result.output
    assert "Traceback" not in result.output


def test_a_failing_critical_health_gate_fails_the_rehearsal_and_the_report_says_which_server(tmp_path):
    path = _example_plan_with(tmp_path, After=[{"Name": "Databases healthy", "HealthCheck": {"TimeoutMinutes": 20}}])
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    for server in scenario["servers"]:
        if server["id"] == "s-0000000000adb0001":
            server["postLaunch"] = {"seconds": 120, "result": "FAILED"}
    scenario_path = tmp_path / "scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario))
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["rehearse", str(path), "--scenario", str(scenario_path), "--json", str(report_path)]
    )
    assert result.exit_code == 1, result.output
    assert "wave 1 after: Databases healthy (health check)" in result.output
    assert "wave 1 after: UNHEALTHY (HealthCheckFailed)" in result.output
    report = json.loads(report_path.read_text())
    assert report["stepFunctionsError"] == "HealthCheckFailed" and report["startRecoveryCalls"] == 1
    (step,) = report["waves"][0]["steps"]
    assert (step["phase"], step["kind"], step["name"], step["status"]) == (
        "AFTER",
        "HealthCheck",
        "Databases healthy",
        "FAILED",
    )
    assert "db-1 (s-0000000000adb0001, CRITICAL): post-launch action" in step["detail"]


def _rehearse_with_post_launch(tmp_path: Path, **post_launch) -> tuple[Any, dict]:
    """The example plan with a health gate after the databases, every db server with a post-launch action; db-1's
    as given."""
    path = _example_plan_with(tmp_path, After=[{"Name": "Databases healthy", "HealthCheck": {"TimeoutMinutes": 20}}])
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    for server in scenario["servers"]:
        if server["hostname"].startswith("db-"):
            server["postLaunch"] = {"seconds": 90}
        if server["id"] == "s-0000000000adb0001":
            server["postLaunch"] = post_launch
    scenario_path = tmp_path / "scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario))
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["rehearse", str(path), "--scenario", str(scenario_path), "--json", str(report_path)]
    )
    return result, json.loads(report_path.read_text())


def test_a_critical_server_whose_ssm_agent_never_reports_fails_the_gate_before_the_next_wave(tmp_path):
    result, report = _rehearse_with_post_launch(tmp_path, seconds=90, agentDiscovered=False)
    assert result.exit_code == 1, result.output
    assert report["stepFunctionsError"] == "HealthCheckFailed" and report["startRecoveryCalls"] == 1
    (step,) = report["waves"][0]["steps"]
    assert step["status"] == "FAILED"
    assert (
        "db-1 (s-0000000000adb0001, CRITICAL): SSM agent never reported: 1 post-launch actions did not run"
        in (step["detail"])
    )
    assert [wave["status"] for wave in report["waves"][1:]] == ["SKIPPED", "SKIPPED"]


def test_the_same_plan_with_every_post_launch_action_run_completes(tmp_path):
    result, report = _rehearse_with_post_launch(tmp_path, seconds=90)
    assert result.exit_code == 0, result.output
    assert report["stepFunctionsError"] is None and report["startRecoveryCalls"] == 3
    (step,) = report["waves"][0]["steps"]
    assert step["status"] == "SUCCEEDED"


def test_a_health_check_before_a_wave_exits_2_naming_the_field_and_the_fix(tmp_path):
    path = _example_plan_with(tmp_path, Before=[{"HealthCheck": {}}])
    result = CliRunner().invoke(app, ["rehearse", str(path)])
    assert result.exit_code == 2, result.output
    assert "Before[0] is a HealthCheck" in result.output and "move the step to After" in result.output
    assert "Traceback" not in result.output


def test_the_timeline_shows_each_wave_between_its_runbook_steps(tmp_path):
    path = _example_plan_with(
        tmp_path,
        Before=[{"Name": "Freeze writes", "Wait": {"Minutes": 2}}],
        After=[{"Approval": {"Message": "Databases up?"}}],
    )
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["rehearse", str(path), "--json", str(report_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    before = next(i for i, line in enumerate(lines) if "│" in line and "before: Freeze writes" in line)
    assert "1 databases" in lines[before + 1] and "after: Approval" in lines[before + 2]
    assert "+00:02:00" in lines[before]
    assert "wave 1 before: Freeze writes (wait)" in result.output  # the progress line as it starts
    assert "wave 1 after: Approval (approval)" in result.output
    steps = json.loads(report_path.read_text())["waves"][0]["steps"]
    assert [(s["phase"], s["kind"], s["status"]) for s in steps] == [
        ("BEFORE", "Wait", "SUCCEEDED"),
        ("AFTER", "Approval", "SUCCEEDED"),
    ]


def test_an_approval_answer_for_a_wave_the_plan_does_not_have_is_refused(tmp_path):
    path = _example_plan_with(tmp_path, Before=[{"Approval": {"Message": "Go?"}}])
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    scenario["approvals"] = [{"wave": "Databases", "decision": "REJECT"}]
    scenario_path = tmp_path / "scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario))
    result = CliRunner().invoke(app, ["rehearse", str(path), "--scenario", str(scenario_path)])
    assert result.exit_code == 2, result.output
    assert "scenario approvals: wave 'Databases' is not a wave of plan 'storefront'" in result.output


def test_a_hook_naming_an_alias_is_refused_in_a_rehearsal_which_cannot_play_it(tmp_path):
    path = _example_plan_with(tmp_path, Before=[{"Lambda": {"FunctionName": "drs-hook-promote:live"}}])
    result = CliRunner().invoke(app, ["rehearse", str(path)])
    assert result.exit_code == 2, result.output
    assert "names a version or alias, which a rehearsal cannot play" in result.output


def test_a_drill_with_cleanup_reports_the_instances_it_terminated(tmp_path):
    plan = yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text())
    plan.setdefault("Options", {})["DrillCleanup"] = {"AfterMinutes": 5}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["rehearse", str(path), "--json", str(report_path)])
    assert result.exit_code == 0, result.output
    assert "drill cleanup" in result.output
    report = json.loads(report_path.read_text())
    cleanup = report["cleanup"]
    assert cleanup["status"] == "COMPLETED"
    launched = {s["recoveryInstanceId"] for w in report["waves"] for s in w["servers"]}
    assert set(cleanup["terminated"]) == launched and len(launched) == 14
    assert cleanup["jobIds"] and cleanup["startedAt"] >= report["waves"][-1]["endedAt"] + 5 * 60
    assert report["resumedFrom"] is None
    assert report["overheadRatio"] <= 1.03  # the cleanup's wait and DRS's terminate time are the plan's own


def test_rehearse_resume_runs_only_what_the_failed_execution_did_not(tmp_path):
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    failing = next(s for s in scenario["servers"] if s.get("hostname") == "app-1")
    failing["faults"] = ["launch_failure"]
    scenario_path = tmp_path / "scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario))
    report_path = tmp_path / "report.json"
    args = ["rehearse", "--scenario", str(scenario_path), "--resume", "--json", str(report_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Execution rehearsal-storefront-drill: FAILED" in result.output
    assert "resuming rehearsal-storefront-drill" in result.output
    resumed = result.output.split("resuming rehearsal-storefront-drill", 1)[1].splitlines()[1]
    assert resumed.startswith("+00:00:00  prepared"), resumed  # from the resume's own start, as its table counts
    assert "4 server(s) launched by the execution it resumes" in result.output
    report = json.loads(report_path.read_text())
    assert report["resumedFrom"] == "rehearsal-storefront-drill"
    assert report["executionId"] == "rehearsal-storefront-drill-resumed"
    assert [w["status"] for w in report["waves"]] == ["SKIPPED", "COMPLETED", "COMPLETED"]
    application = {s["hostname"]: s for s in report["waves"][1]["servers"]}
    assert application["app-1"]["status"] == "LAUNCHED"
    assert {application[f"app-{n}"]["error"] for n in range(2, 6)} == {"LAUNCHED_BEFORE"}
    assert report["startRecoveryCalls"] == 2  # app-1 alone, then the web wave
    assert report["launchesPerServerMax"] == 1


def test_a_rehearsal_in_the_sandboxs_shell_ignores_its_endpoint_profile_and_config(tmp_path):
    """The README's second terminal exports the sandbox's AWS_ENDPOINT_URL: a rehearsal there runs on its own stage
    all the same (it once sent its tables to that endpoint: "Table already exists", reported as a bug in drsctl)."""
    config = tmp_path / "config"
    config.write_text("[default]\nendpoint_url = http://127.0.0.1:9\n[profile elsewhere]\nregion = eu-west-1\n")
    shell = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing answers there (the discard port)
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_STEPFUNCTIONS": "http://127.0.0.1:9",
        "AWS_PROFILE": "elsewhere",
        "AWS_CONFIG_FILE": str(config),
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
    }
    result = CliRunner().invoke(app, ["rehearse"], env=shell)
    assert result.exit_code == 0, result.output
    assert "Execution rehearsal-storefront-drill: COMPLETED" in result.output


def test_plan_validate_names_each_region_drs_refused_once(tmp_path):
    """DRS refuses DescribeSourceServers (not initialized in the plan's Region, or a Region it is not in): the
    operator's to fix, one problem per Region naming the call and the fix, exit 2 (was: a bug in drsctl, exit 1)."""
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    scenario["faults"] = [{"operation": "DescribeSourceServers", "error": "UninitializedAccountException", "count": 99}]
    path = tmp_path / "uninitialized.yaml"
    path.write_text(yaml.safe_dump(scenario))
    result = CliRunner().invoke(
        app, ["plan", "validate", str(ROOT / "examples" / "plan.yaml"), "--scenario", str(path)]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "bug in drsctl" not in result.output
    problems = [line for line in result.output.splitlines() if line.startswith("- ")]
    # one problem per (account, Region) DRS refused, naming the call, the Region and the fix; the servers there are
    # not each reported missing as well
    assert len(problems) == 2, result.output
    for problem, region in zip(problems, ["us-east-1", "us-west-2"], strict=True):
        assert f"DescribeSourceServers in {region}" in problem and "UninitializedAccountException" in problem
        assert "What to do: initialize DRS in" in problem
