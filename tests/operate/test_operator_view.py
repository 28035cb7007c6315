"""What an operator reads, against the sandbox over HTTP: a running plan is neither started twice nor reloaded under
its execution, executions read RUNNING (and what they wait for) in one vocabulary, every piped `run watch` line and
every line of the sandbox's log carries the sandbox's time, the drill cleanup is in view, and a wrong Region is
named."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import yaml

from tests.operate.conftest import SandboxProcess, wait_until

HERE = Path(__file__).parent
STAMP = re.compile(r"^(\d\d:\d\d:\d\d)(?: \((\d{4}-\d\d-\d\d) UTC\))? ")


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _variant(folder: Path, source: str, **changes) -> Path:
    plan = yaml.safe_load((HERE / source).read_text())
    plan.update(changes)
    path = folder / f"{plan['PlanId']}-{len(list(folder.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def _executions(sandbox: SandboxProcess) -> set[str]:
    client = sandbox.client("stepfunctions")
    machine = client.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    return {e["name"] for e in client.list_executions(stateMachineArn=machine)["executions"]}


def _stamped(lines: list[str]) -> list[float]:
    """Each line's time (epoch seconds): HH:MM:SS, on the date the last dated line gave."""
    times, date = [], None
    for line in lines:
        match = STAMP.match(line)
        assert match, f"no time at the start of {line!r}"
        date = match.group(2) or date
        assert date is not None, f"the first line gives no date: {line!r}"
        times.append(datetime.fromisoformat(f"{date}T{match.group(1)}+00:00").timestamp())
    return times


def test_a_running_plan_is_refused_a_second_start_and_a_changed_reload(sandbox, tmp_path):
    first = sandbox.drsctl("plan", "load", str(HERE / "waiting.yaml"))
    assert first.exit_code == 0, first.output
    version = _json(sandbox.drsctl("plan", "show", "waiting", "--json"))["planVersion"]
    assert re.fullmatch(r"[0-9a-f]{12}", version)
    assert f"version {version}" in first.output
    _json(sandbox.drsctl("run", "start", "waiting", "--name", "w-1", "--json"))

    # at once (its record may not be written yet) and once it runs: refused, naming it, and nothing started
    again = sandbox.drsctl("run", "start", "waiting", "--name", "w-2")
    assert again.exit_code == 2, again.output
    assert "plan waiting is already running in execution w-1" in again.output
    assert "drsctl run cancel w-1" in again.output and "nothing was started" in again.output
    assert "w-2" not in _executions(sandbox)

    def waiting():
        shown = _json(sandbox.drsctl("run", "show", "w-1", "--json"))
        return shown if shown["waitingFor"] == "wait" else None

    shown = wait_until(waiting, "w-1 in its day-long wait step")
    assert (shown["Status"], shown["RecordStatus"]) == ("RUNNING", "POLLING")  # one vocabulary; the record keeps its
    assert shown["planVersion"] == shown["Record"]["PlanVersion"] == version
    assert shown["startedBy"] == "arn:aws:iam::123456789012:user/sandbox-operator"  # the sandbox's credentials
    refused = sandbox.drsctl("run", "start", "waiting", "--mode", "recovery", "--confirm", "RECOVER waiting")
    assert refused.exit_code == 2 and "already running in execution w-1" in refused.output
    assert (
        "Execution w-1 (plan waiting, DRILL): RUNNING, waiting for wait" in sandbox.drsctl("run", "show", "w-1").output
    )

    for spelling in ("running", "RUNNING", "Running", "polling"):
        listed = _json(sandbox.drsctl("run", "list", "--status", spelling, "--json"))
        assert "w-1" in [item["ExecutionId"] for item in listed]
        assert {item["Status"] for item in listed} == {"RUNNING"}
    assert "w-1" not in [
        i["ExecutionId"] for i in _json(sandbox.drsctl("run", "list", "--status", "completed", "--json"))
    ]

    changed = _variant(tmp_path, "waiting.yaml", Name="A shorter pause")
    reload = sandbox.drsctl("plan", "load", str(changed))
    assert reload.exit_code == 2, reload.output
    assert "execution w-1" in reload.output and "--force" in reload.output
    assert "-Name: A long pause before the databases\n+Name: A shorter pause" in reload.output  # the diff, first
    assert _json(sandbox.drsctl("plan", "show", "waiting", "--json"))["planVersion"] == version  # not stored
    same = sandbox.drsctl("plan", "load", str(HERE / "waiting.yaml"))  # the same plan again: nothing changes
    assert same.exit_code == 0 and f"plan waiting is unchanged (version {version})" in same.output

    forced = _json(sandbox.drsctl("plan", "load", str(changed), "--force", "--json"))
    assert forced["previousVersion"] == version and forced["planVersion"] != version
    assert forced["RunningExecutions"] == ["w-1"] and forced["Changed"] and forced["Stored"]
    assert _json(sandbox.drsctl("plan", "show", "waiting", "--json"))["planVersion"] == forced["planVersion"]
    # the running execution still names the plan it read at its start
    assert _json(sandbox.drsctl("run", "show", "w-1", "--json"))["planVersion"] == version
    assert sandbox.drsctl("run", "cancel", "w-1", "--reason", "end of test").exit_code == 0
    back = sandbox.drsctl("plan", "load", str(HERE / "waiting.yaml"))  # nothing runs it now
    assert back.exit_code == 0 and f"-> {version}" in back.output

    # plan show is a plan file: its version and the Options in effect in comments, and it loads back as the same plan
    shown_file = sandbox.drsctl("plan", "show", "waiting")
    assert shown_file.output.startswith(f"# plan waiting, version {version} (planVersion)\n")
    assert "#   WaveTimeoutMinutes: 120\n" in shown_file.output  # a default the plan does not set
    assert "#   ExpectedJobMinutes: 9.0 (RECOVERY: 13.0)\n" in shown_file.output
    (tmp_path / "shown.yaml").write_text(shown_file.output)
    assert sandbox.drsctl("plan", "diff", str(tmp_path / "shown.yaml")).exit_code == 0
    in_effect = _json(sandbox.drsctl("plan", "show", "waiting", "--json"))["optionsInEffect"]
    assert in_effect["DRILL"]["PollIntervalSeconds"] == 30 and in_effect["RECOVERY"]["ExpectedJobMinutes"] == 13


def test_a_waiting_approval_reads_running_and_what_it_waits_for(sandbox):
    assert sandbox.drsctl("plan", "load", str(HERE / "gated.yaml")).exit_code == 0
    _json(sandbox.drsctl("run", "start", "gated", "--name", "gate-1", "--json"))

    def asked():
        shown = _json(sandbox.drsctl("run", "show", "gate-1", "--json"))
        return shown if shown["PendingApprovals"] else None

    shown = wait_until(asked, "the approval asked")
    assert (shown["Status"], shown["waitingFor"]) == ("RUNNING", "approval")
    text = sandbox.drsctl("run", "show", "gate-1").output
    assert "Execution gate-1 (plan gated, DRILL): RUNNING, waiting for approval" in text
    assert re.search(r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, elapsed \d\d:\d\d:\d\d", text)
    assert sandbox.drsctl("run", "cancel", "gate-1", "--reason", "end of test").exit_code == 0
    ended = _json(sandbox.drsctl("run", "show", "gate-1", "--json"))
    assert (ended["Status"], ended["waitingFor"]) == ("CANCELLED", None)


def test_watch_lines_and_the_sandbox_log_carry_the_sandbox_time_and_the_cleanup_is_in_view(sandbox, tmp_path):
    plan = _variant(
        tmp_path,
        "gated.yaml",
        PlanId="clocked",
        Waves=[{"WaveName": "databases", "ProtectionGroupId": "gated-db"}],
        Options={"DrillCleanup": {"AfterMinutes": 15}, "RtoTargetMinutes": 30},
    )
    assert sandbox.drsctl("plan", "load", str(plan)).exit_code == 0
    _json(sandbox.drsctl("run", "start", "clocked", "--name", "clock-1", "--json"))
    watched = sandbox.drsctl("run", "watch", "clock-1", "--interval", "0.2")  # not a terminal: one line per change
    assert watched.exit_code == 0, watched.output
    lines = watched.output.splitlines()
    times = _stamped(lines)
    assert STAMP.match(lines[0]).group(2)  # the date on the first line, then only when it changes
    dated = [line for line in lines if STAMP.match(line).group(2)]
    assert len(dated) == len({STAMP.match(line).group(2) for line in dated})
    assert times == sorted(times)
    assert "Execution clock-1 (plan clocked, DRILL): RUNNING; started " in lines[0]
    assert re.search(r"elapsed \d\d:\d\d:\d\d, RTO 30 min: \d\d:\d\d:\d\d left$", lines[0])
    assert any("cleanup: planned: 15 min after the drill ends" in line for line in lines)
    assert any("cleanup: waiting: terminates the drill's 2 instance(s) at " in line for line in lines)
    assert "the drill ended COMPLETED; its cleanup is waiting" in watched.output
    assert "Execution clock-1 (plan clocked, DRILL): COMPLETED, waiting for cleanup; started " in lines[-1]

    shown = _json(sandbox.drsctl("run", "show", "clock-1", "--json"))
    record = shown["Record"]
    # the stack's clock (the sandbox's, 1200 times faster than this machine's): the times the records hold
    assert shown["StartDate"] - 2 <= times[0] <= record["StartTime"] + 3600  # 3 s of real time: a loaded machine
    assert record["EndTime"] <= times[-1] <= record["EndTime"] + 3600
    assert times[-1] > time.time() + 600  # not this machine's clock
    listed = {i["ExecutionId"]: i for i in _json(sandbox.drsctl("run", "list", "--plan", "clocked", "--json"))}
    assert listed["clock-1"]["cleanup"]["state"] in ("waiting", "terminating", "done")
    table = sandbox.drsctl("run", "list", "--plan", "clocked").output
    assert "cleanup" in table and re.search(r"clock-1 .*(waiting until|terminating|done)", table)

    def done():
        shown = _json(sandbox.drsctl("run", "show", "clock-1", "--json"))
        return shown if shown["cleanup"]["state"] == "done" else None

    ended = wait_until(done, "the drill cleanup done")
    assert ended["cleanup"]["terminated"] == ended["cleanup"]["instances"] == 2
    assert "cleanup: done: 2 drill instance(s) terminated at " in sandbox.drsctl("run", "show", "clock-1").output

    sandbox.wait_for("execution clock-1 ended COMPLETED")  # the sandbox's log, in the CLI's words
    log = [line for line in sandbox.seen if STAMP.match(line)]
    logged_at = _stamped(log)[next(i for i, line in enumerate(log) if "execution clock-1 ended" in line)]
    cleaned_at = _json(sandbox.drsctl("run", "show", "clock-1", "--json"))["Record"]["Cleanup"]["EndedAt"]
    # the sandbox's clock (the records'), not this machine's: the execution ends just after its cleanup
    assert cleaned_at - 2 <= logged_at <= cleaned_at + 1800
    assert logged_at > time.time() + 600


def test_a_wrong_or_unknown_region_is_named(sandbox):
    unknown = sandbox.drsctl("run", "list", AWS_DEFAULT_REGION="us-east-9")
    assert unknown.exit_code == 2, unknown.output
    assert "us-east-9 is not an AWS Region" in unknown.output and "AWS_DEFAULT_REGION=us-east-1" in unknown.output
    assert "KeyError" not in unknown.output and "Traceback" not in unknown.output
    elsewhere = sandbox.drsctl("run", "list", AWS_DEFAULT_REGION="us-west-2")
    assert elsewhere.exit_code == 2, elsewhere.output
    assert "in region us-west-2" in elsewhere.output and "AWS_DEFAULT_REGION" in elsewhere.output
