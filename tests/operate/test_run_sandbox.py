"""Every `drsctl run` and `plan` command against the sandbox over HTTP, as an operator uses them against AWS."""

from __future__ import annotations

import json
import shlex
import tempfile
from pathlib import Path

import jsonschema
import yaml

from drsctl.report.schema import report_schema
from tests.operate.conftest import ROOT, SandboxProcess, wait_until

EXAMPLE_PLAN = ROOT / "examples" / "plan.yaml"
GATED_PLAN = Path(__file__).with_name("gated.yaml")
OPERATOR = "arn:aws:iam::123456789012:user/sandbox-operator"  # who the sandbox's default credentials are


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _load(sandbox: SandboxProcess, plan: Path) -> None:
    result = sandbox.drsctl("plan", "load", str(plan))
    assert result.exit_code == 0, result.output


def _waiting_approval(sandbox: SandboxProcess, name: str) -> dict:
    def pending():
        shown = _json(sandbox.drsctl("run", "show", name, "--json"))
        return shown["PendingApprovals"]

    return wait_until(pending, f"an approval waiting in {name}")[0]


def test_sandbox_serves_the_stack_outputs_and_every_service_on_one_endpoint(sandbox):
    outputs = sandbox.client("cloudformation").describe_stacks(StackName="DrsOrchestrator")["Stacks"][0]["Outputs"]
    named = {output["OutputKey"]: output["OutputValue"] for output in outputs}
    assert {"StateMachineArn", "ExecutionHistoryTable", "ExecutionWavesTable", "NotificationTopicArn"} <= set(named)
    machine = sandbox.client("stepfunctions").describe_state_machine(stateMachineArn=named["StateMachineArn"])
    assert "Run waves in order" in machine["definition"]
    assert named["ExecutionHistoryTable"] in sandbox.client("dynamodb").list_tables()["TableNames"]
    assert sandbox.client("drs").describe_source_servers()["items"]
    assert named["NotificationTopicArn"] in str(sandbox.client("sns").list_topics())
    assert sandbox.endpoint.startswith("http://127.0.0.1:")


def test_plan_load_list_show_and_diff(sandbox, tmp_path):
    _load(sandbox, EXAMPLE_PLAN)
    listed = _json(sandbox.drsctl("plan", "list", "--json"))
    version = _json(sandbox.drsctl("plan", "show", "storefront", "--json"))["planVersion"]
    (plan,) = [plan for plan in listed if plan["PlanId"] == "storefront"]
    assert {"Name": "Storefront three-tier recovery", "Waves": 3, "planVersion": version}.items() <= plan.items()
    assert plan["schedule"] is None  # the example plan has no Schedule
    shown = _json(sandbox.drsctl("plan", "show", "storefront", "--json"))
    assert [wave["WaveName"] for wave in shown["Waves"]] == ["databases", "application", "web"]
    same = sandbox.drsctl("plan", "diff", str(EXAMPLE_PLAN))
    assert same.exit_code == 0, same.output
    assert "is the stored plan storefront" in same.output
    changed = yaml.safe_load(EXAMPLE_PLAN.read_text())
    changed["Waves"][2]["WaveName"] = "web tier"
    edited = tmp_path / "plan.yaml"
    edited.write_text(yaml.safe_dump(changed))
    different = sandbox.drsctl("plan", "diff", str(edited))
    assert different.exit_code == 1
    assert "-  - WaveName: web\n+  - WaveName: web tier" in different.output  # in the plan file's key order
    missing = sandbox.drsctl("plan", "show", "no-such-plan")
    assert missing.exit_code == 2 and "No plan 'no-such-plan'" in missing.output


def test_a_drill_started_and_watched_to_completed_then_cleaned_up(sandbox):
    _load(sandbox, EXAMPLE_PLAN)
    started = _json(sandbox.drsctl("run", "start", "storefront", "--name", "drill-1", "--json"))
    assert started["Input"] == {"PlanId": "storefront", "ExecutionType": "DRILL", "StartedBy": OPERATOR}
    assert started["ConsoleUrl"] == (
        f"https://console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{started['ExecutionArn']}"
    )
    watched = sandbox.drsctl("run", "watch", "drill-1", "--interval", "0.2")
    assert watched.exit_code == 0, watched.output
    assert "wave 3 (web): COMPLETED, 5/5 launched" in watched.output
    assert "Execution drill-1 (plan storefront, DRILL): COMPLETED" in watched.output
    listed = _json(sandbox.drsctl("run", "list", "--plan", "storefront", "--status", "completed", "--json"))
    assert "drill-1" in [item["ExecutionId"] for item in listed]

    shown = _json(sandbox.drsctl("run", "show", "drill-1", "--json"))
    instances = {server["InstanceId"] for wave in shown["Waves"] for server in wave["Servers"]}
    assert len(instances) == 14 and None not in instances
    regions = {wave["Region"] for wave in shown["Waves"]}
    assert regions == {"us-east-1", "us-west-2"}

    def in_drs(region):
        items = sandbox.client("drs", region).describe_recovery_instances()["items"]
        return {item["recoveryInstanceID"] for item in items if item["recoveryInstanceID"] in instances}

    assert set().union(*(in_drs(region) for region in regions)) == instances
    cleaned = _json(sandbox.drsctl("run", "cleanup", "drill-1", "--json"))
    assert set(cleaned["Terminated"]) == instances and cleaned["TerminateJobIds"] and cleaned["Pending"] == []
    # cleanup waits for the TERMINATE jobs: on return DRS no longer lists the drill's instances
    assert not any(in_drs(region) for region in regions)
    again = sandbox.drsctl("run", "cleanup", "drill-1")
    assert again.exit_code == 0 and "no recovery instance of it is left" in again.output
    # the operator's cleanup is on the record, as the workflow's would be: a resume would be refused
    recorded = _json(sandbox.drsctl("run", "show", "drill-1", "--json"))["Record"]
    assert recorded["Cleanup"]["Status"] == "COMPLETED" and recorded["Cleanup"]["Terminated"] == 14

    # the drill report from the deployed records: the same page and JSON as a rehearsal's
    folder = Path(tempfile.mkdtemp())
    written = sandbox.drsctl(
        "run", "report", "drill-1", "--html", str(folder / "r.html"), "--json", str(folder / "r.json")
    )
    assert written.exit_code == 0, written.output
    report = json.loads((folder / "r.json").read_text())
    jsonschema.Draft202012Validator(report_schema()).validate(report)
    assert report["status"] == "COMPLETED" and report["source"] == "sandbox"  # served on 127.0.0.1: not AWS
    # which plan was drilled, and who started it (recorded by run start from sts:GetCallerIdentity)
    assert (
        report["planVersion"]
        == shown["planVersion"]
        == _json(sandbox.drsctl("plan", "show", "storefront", "--json"))["planVersion"]
    )
    assert report["startedBy"] == shown["startedBy"] == OPERATOR
    assert report["cleanup"]["status"] == "COMPLETED" and len(report["cleanup"]["terminated"]) == 14
    assert report["generatedAt"] and report["generator"].startswith("drsctl ")
    page = (folder / "r.html").read_text()
    assert "drill-1" in page and "REHEARSAL, not a drill on AWS" in page
    # the operator's cleanup, after the execution ended: told as such, never as the plan's "Planned 0 min after"
    assert report["cleanup"]["startedAt"] > report["makespanSeconds"]
    assert "`drsctl run cleanup drill-1` started it after the execution had ended" in page
    assert "Planned 0 min" not in page and "longer for the drill cleanup" not in page
    resumed = sandbox.drsctl("run", "resume", "drill-1")
    assert resumed.exit_code == 2 and "it COMPLETED; there is nothing left to resume" in resumed.output


def test_a_recovery_is_refused_without_the_typed_confirmation(sandbox):
    _load(sandbox, EXAMPLE_PLAN)
    stepfunctions = sandbox.client("stepfunctions")
    machine = stepfunctions.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    before = {e["name"] for e in stepfunctions.list_executions(stateMachineArn=machine)["executions"]}
    typed_wrong = sandbox.drsctl("run", "start", "storefront", "--mode", "recovery", "--name", "r-no", stdin="yes\n")
    assert typed_wrong.exit_code == 2
    shown = typed_wrong.output
    # per wave: Region, account, servers (tag-selected waves resolved in DRS), hostnames, worst lag; 80 columns
    assert "wave 1: databases\n  Region us-east-1, account 111122223333: 4 server(s), worst replication lag" in shown
    assert "  db-1, db-2, db-3, db-4\n" in shown
    assert "5 server(s) (tagged Application=storefront, Tier=web)" in " ".join(shown.split())
    assert "web-1, web-2, web-3, web-4, web-5" in shown and "Region us-west-2" in shown
    assert all(len(line) <= 80 for line in shown.splitlines() if not line.startswith("error:"))
    assert "Type RECOVER storefront to start the recovery" in typed_wrong.output
    assert "nothing was started" in typed_wrong.output and "Traceback" not in typed_wrong.output
    nothing_typed = sandbox.drsctl("run", "start", "storefront", "--mode", "RECOVERY", "--name", "r-no", stdin="")
    assert nothing_typed.exit_code == 2
    flag_wrong = sandbox.drsctl("run", "start", "storefront", "--mode", "recovery", "--confirm", "RECOVER other")
    assert flag_wrong.exit_code == 2 and "nothing was started" in flag_wrong.output
    after = {e["name"] for e in stepfunctions.list_executions(stateMachineArn=machine)["executions"]}
    assert after == before

    typed = sandbox.drsctl(
        "run", "start", "storefront", "--mode", "recovery", "--name", "r-yes", "--json", stdin="RECOVER storefront\n"
    )
    assert typed.exit_code == 0, typed.output
    assert '"Confirm": "RECOVER storefront"' in typed.output
    watched = sandbox.drsctl("run", "watch", "r-yes", "--interval", "0.2", "--json")
    assert watched.exit_code == 0, watched.output
    refused = sandbox.drsctl("run", "cleanup", "r-yes")
    assert refused.exit_code == 2 and "is a RECOVERY, not a DRILL" in refused.output


def test_an_approval_approved_and_one_rejected(sandbox):
    _load(sandbox, GATED_PLAN)
    sqs = sandbox.client("sqs")
    queue = sqs.create_queue(QueueName="approvers")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sandbox.client("sns").list_topics()["Topics"][0]["TopicArn"]
    sandbox.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    _json(sandbox.drsctl("run", "start", "gated", "--name", "gated-1", "--json"))
    approval = _waiting_approval(sandbox, "gated-1")
    assert approval == {
        **approval,
        "WaveNumber": 2,
        "WaveName": "application",
        "Phase": "BEFORE",
        "Name": "Change board",
    }

    def notified():  # the step is recorded waiting just before the topic is told
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return any("Approval needed: DRILL of plan gated" in message["Body"] for message in messages)

    wait_until(notified, "the approval request on the topic")
    sandbox.wait_for(
        "execution gated-1 waits for approval 'Change board' before wave 2 (application): Start the application tier?"
    )
    shown = sandbox.drsctl("run", "show", "gated-1")
    assert "Approval waiting: Change board before wave 2 (application)" in shown.output
    assert "question:   Start the application tier?" in shown.output and "on timeout: FAIL" in shown.output
    assert "drsctl run approve gated-1" in shown.output
    approved = sandbox.drsctl("run", "approve", "gated-1", "--reason", "change 42")
    assert approved.exit_code == 0, approved.output
    assert f"Change board before wave 2 (application): approved by {OPERATOR}" in approved.output
    watched = sandbox.drsctl("run", "watch", "gated-1", "--interval", "0.2", "--json")
    assert watched.exit_code == 0, watched.output
    step = json.loads(watched.output)["Waves"][1]["Steps"][0]
    assert step["Status"] == "SUCCEEDED" and step["DecidedBy"] == OPERATOR and "TaskToken" not in step
    assert (step["decision"], step["decidedBy"], step["reason"]) == ("APPROVE", OPERATOR, "change 42")
    sandbox.wait_for("execution gated-1 ended COMPLETED")  # in the sandbox's terminal, in the CLI's words
    nothing = sandbox.drsctl("run", "approve", "gated-1")
    assert nothing.exit_code == 2 and "has ended (COMPLETED)" in nothing.output

    _json(sandbox.drsctl("run", "start", "gated", "--name", "gated-2", "--json"))
    _waiting_approval(sandbox, "gated-2")
    rejected = sandbox.drsctl("run", "approve", "gated-2", "--reject", "--reason", "not today")
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    watched = sandbox.drsctl("run", "watch", "gated-2", "--interval", "0.2")
    assert watched.exit_code == 1
    ended = _json(sandbox.drsctl("run", "show", "gated-2", "--json"))
    assert ended["Status"] == "FAILED"
    assert ended["Waves"][1]["Steps"][0]["Status"] == "REJECTED"
    assert ended["Waves"][1]["Status"] != "COMPLETED"


def test_a_cancel_leaves_the_record_cancelled_and_resume_starts_again_from_it(sandbox):
    _load(sandbox, EXAMPLE_PLAN)  # for the resume refused below: its plan is stored, whatever ran before
    _load(sandbox, GATED_PLAN)
    _load(sandbox, EXAMPLE_PLAN)  # another stored plan, for the resume refused across plans below
    _json(sandbox.drsctl("run", "start", "gated", "--name", "gated-3", "--json"))
    _waiting_approval(sandbox, "gated-3")
    cancelled = sandbox.drsctl("run", "cancel", "gated-3", "--reason", "drill window closed")
    assert cancelled.exit_code == 0, cancelled.output
    assert f"its record is CANCELLED (cancelled by {OPERATOR})" in cancelled.output
    history = sandbox.client("dynamodb").query(
        TableName="ExecutionHistory",
        KeyConditionExpression="ExecutionId = :id",
        ExpressionAttributeValues={":id": {"S": "gated-3"}},
    )["Items"][0]
    assert history["Status"]["S"] == "CANCELLED"
    # what to do after a stop, in drsctl's commands rather than DRS API names
    assert "drsctl run resume gated-3" in history["ErrorMessage"]["S"]
    assert "drsctl run cleanup gated-3" in history["ErrorMessage"]["S"]
    assert "TerminateRecoveryInstances" not in history["ErrorMessage"]["S"]
    described = sandbox.client("stepfunctions").describe_execution(
        executionArn=_json(sandbox.drsctl("run", "show", "gated-3", "--json"))["ExecutionArn"]
    )
    assert described["status"] == "ABORTED"
    again = sandbox.drsctl("run", "cancel", "gated-3", "--reason", "twice")
    assert again.exit_code == 2 and "not running" in again.output

    other_plan = sandbox.drsctl("run", "start", "storefront", "--resume-from", "gated-3")
    assert other_plan.exit_code == 2 and "it ran plan gated, not storefront" in other_plan.output
    resumed = _json(sandbox.drsctl("run", "resume", "gated-3", "--name", "gated-3-resumed", "--json"))
    assert resumed["Input"] == {
        **resumed["Input"],
        "PlanId": "gated",
        "ExecutionType": "DRILL",
        "ResumeFrom": "gated-3",
    }
    shown = sandbox.drsctl("run", "show", "gated-3-resumed")
    assert "resuming gated-3" in shown.output
    _waiting_approval(sandbox, "gated-3-resumed")  # the resumed execution runs (and waits where the plan says)
    assert sandbox.drsctl("run", "cancel", "gated-3-resumed", "--reason", "end of test").exit_code == 0


def _tour() -> tuple[dict[str, str], list[list[str]]]:
    """The README's five-minute tour: the variables it exports and every drsctl command, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Five-minute tour", 1)[1].split("\n## ", 1)[0]
    exports: dict[str, str] = {}
    commands: list[list[str]] = []
    for block in section.split("```")[1::2]:
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["export"]:
                exports.update(word.split("=", 1) for word in words[1:])
            elif words[:1] == [".venv/bin/drsctl"]:
                commands.append(words[1:])
    return exports, commands


def test_the_readme_tour_runs_as_written(sandbox):
    exports, commands = _tour()
    printed = {**sandbox.exports, "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}  # the README's port is the default
    assert exports == printed
    assert commands[0] == ["sandbox"]
    for index, words in enumerate(commands[1:], start=1):
        later = commands[index + 1 :]
        if words[:2] == ["run", "watch"] and ["run", "approve", words[2]] in [c[:3] for c in later]:
            _waiting_approval(sandbox, words[2])  # the tour watches it wait, then leaves it with Ctrl-C
            continue
        result = sandbox.drsctl(*[str(ROOT / w) if w.startswith("examples/") else w for w in words])
        assert result.exit_code == 0, f"{words}: {result.output}"
    shown = _json(sandbox.drsctl("run", "show", "tour-gated", "--json"))
    assert shown["Status"] == "COMPLETED" and shown["Waves"][1]["Steps"][0]["Status"] == "SUCCEEDED"


def test_watch_of_an_execution_the_workflow_refuses_exits_1_with_the_reason(sandbox):
    _load(sandbox, EXAMPLE_PLAN)
    machine = sandbox.client("stepfunctions").list_state_machines()["stateMachines"][0]["stateMachineArn"]
    sandbox.client("stepfunctions").start_execution(  # by hand, without the confirmation drsctl would ask for
        stateMachineArn=machine,
        name="unconfirmed",
        input=json.dumps({"PlanId": "storefront", "ExecutionType": "RECOVERY"}),
    )
    watched = sandbox.drsctl("run", "watch", "unconfirmed", "--interval", "0.2")
    assert watched.exit_code == 1, watched.output
    assert "Execution unconfirmed (plan storefront, RECOVERY): FAILED" in watched.output
    assert '"Confirm": "RECOVER storefront"' in watched.output


def test_a_cancel_during_a_long_wait_ends_the_execution_at_once(sandbox):
    _load(sandbox, Path(__file__).with_name("waiting.yaml"))
    _json(sandbox.drsctl("run", "start", "waiting", "--name", "waiting-1", "--json"))

    def pausing():
        steps = _json(sandbox.drsctl("run", "show", "waiting-1", "--json"))["Waves"]
        return steps and steps[0]["Steps"] and steps[0]["Steps"][0]["Status"] == "RUNNING"

    wait_until(pausing, "the wait step running")
    cancelled = sandbox.drsctl("run", "cancel", "waiting-1", "--reason", "window moved", "--json")
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.output)["Status"] == "CANCELLED"
    step = json.loads(cancelled.output)["Waves"][0]["Steps"][0]
    assert step["Status"] == "CANCELLED"
    # ended at the cancel, on the sandbox's own clock: not when the day's wait (24 real minutes at 60x) would have
    assert step["EndedAt"] - step["StartedAt"] < 1440 * 60 / 2
