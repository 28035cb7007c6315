"""The report as audit evidence: who started, approved, rejected and cancelled, and when (UTC), read from the
records (and CloudTrail); approvals said as sentences, never raw JSON; targets always shown; how often the plan's
loops turned and its tasks were retried, counted from the history."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from drsctl.cli import version_text
from drsctl.local import run
from drsctl.local.engine import LambdaFault
from drsctl.local.rehearsal import local_aws
from drsctl.report import activity, audit, cloudtrail, html, judge, sentences
from drsctl.report.model import problems
from lambdas.core.plan import RecoveryPlan
from tests.workflow.conftest import three_tier_scenario, three_wave_plan

ROOT = Path(__file__).resolve().parents[2]
ALICE = "arn:aws:iam::111122223333:user/alice"
BOB = "arn:aws:sts::111122223333:assumed-role/ChangeBoard/bob"
START = datetime(2026, 1, 1, tzinfo=UTC)
EPOCH = START.timestamp()


def since(moment: float | None) -> float | None:
    return None if moment is None else moment - EPOCH


def test_a_recorded_decision_is_said_with_who_when_and_why():
    step = {
        "Phase": "BEFORE",
        "Index": 0,
        "Kind": "Approval",
        "Name": "Change board",
        "Status": "REJECTED",
        "StartedAt": EPOCH + 600,
        "EndedAt": EPOCH + 900,
        "Message": "Fail the databases over to us-east-1?",
        "Deadline": EPOCH + 600 + 3600,
        "OnTimeout": "FAIL",
        "Decision": "REJECT",
        "DecidedBy": BOB,
        "Reason": "the replicas are not verified",
        "DecidedAt": EPOCH + 890,
        "Approvals": [{"By": BOB, "Decision": "REJECT", "Reason": "the replicas are not verified", "At": EPOCH + 890}],
    }
    facts = audit.step_facts(step, since)
    assert facts["decision"] == "REJECT" and facts["decidedBy"] == BOB
    assert facts["decidedAt"] == "2026-01-01T00:14:50Z" and facts["deadline"] == "2026-01-01T01:10:00Z"
    assert facts["approvals"] == [
        {"by": BOB, "decision": "REJECT", "reason": "the replicas are not verified", "at": "2026-01-01T00:14:50Z"}
    ]
    said = sentences.approval(facts, sentences.Clock({"startTime": "2026-01-01T00:00:00Z"}))
    assert said == (
        "Asked at 00:10:00 UTC: “Fail the databases over to us-east-1?”. Deadline 01:10:00 UTC; on timeout: FAIL "
        f"(the plan stops). Rejected by {BOB} at 00:14:50 UTC: “the replicas are not verified”."
    )


def test_two_approvers_are_each_named():
    step = {
        "Phase": "AFTER",
        "Index": 1,
        "Kind": "Approval",
        "Name": "Two keys",
        "Status": "SUCCEEDED",
        "StartedAt": EPOCH,
        "EndedAt": EPOCH + 60,
        "Decision": "APPROVE",
        "Approvals": [
            {"By": ALICE, "Decision": "APPROVE", "At": EPOCH + 30},
            {"By": BOB, "Decision": "APPROVE", "Reason": "ok", "At": EPOCH + 60},
        ],
    }
    said = sentences.approval(audit.step_facts(step, since), sentences.Clock({"startTime": "2026-01-01T00:00:00Z"}))
    assert said.endswith(
        f"Approved by {ALICE} at 00:00:30 UTC, no reason given and approved by {BOB} at 00:01:00 UTC: “ok”."
    )


@pytest.mark.parametrize(
    ("status", "detail", "decision", "reason"),
    [
        ("SUCCEEDED", '{"Decision":"APPROVE","By":"alice","Reason":"change 42"}', "APPROVE", "change 42"),
        ("SUCCEEDED", '{"Decision":"APPROVE","By":"alice"}', "APPROVE", None),
        ("REJECTED", "Rejected: the DBA is not on call", "REJECT", "the DBA is not on call"),
        ("REJECTED", "Rejected", "REJECT", None),  # the error's name is no reason
        ("TIMED_OUT", "States.Timeout", None, None),  # nobody decided
        ("SUCCEEDED", '{"Decision":"APPROVE","By":"al' + "x" * 480 + "…", "APPROVE", None),  # cut by the record
    ],
)
def test_an_older_record_is_read_without_guessing(status, detail, decision, reason):
    step = {"Phase": "BEFORE", "Index": 0, "Kind": "Approval", "Name": "Gate", "Status": status, "StartedAt": EPOCH}
    facts = audit.step_facts({**step, "Detail": detail, "EndedAt": EPOCH + 5}, since)
    assert (facts["decision"], facts["reason"], facts["decidedAt"], facts["message"]) == (decision, reason, None, None)


def test_a_resumed_executions_steps_say_where_they_ran():
    base = {"Phase": "BEFORE", "Kind": "Lambda", "Name": "Promote", "StartedAt": EPOCH + 60, "EndedAt": EPOCH + 90}
    taken = audit.step_facts({**base, "Index": 0, "Status": "SUCCEEDED", "RanIn": "exec-1"}, since)
    assert (taken["startedAt"], taken["endedAt"], taken["ranIn"]) == (None, None, "exec-1")  # its times are exec-1's
    again = audit.step_facts(
        {**base, "Index": 1, "Status": "SUCCEEDED", "Previously": "FAILED in execution exec-1"}, since
    )
    assert (again["startedAt"], again["endedAt"]) == (60, 90)
    clock = sentences.Clock({"startTime": "2026-01-01T00:00:00Z"})
    assert sentences.step(taken, clock) == (
        "Ran in execution exec-1, which this one resumed: taken over (SUCCEEDED there), not run again."
    )
    assert sentences.step(again, clock) == (
        "The function ran and returned nothing. Run again by this resume (before, it ended FAILED in execution exec-1)."
    )


def test_approval_rows_are_sentences_not_raw_json(critical_failure):
    page = html.render(critical_failure)
    approvals = page[page.index('id="approvals"') :]
    assert "{&quot;Decision&quot;" not in approvals and '{"Decision"' not in approvals
    step = critical_failure["waves"][0]["steps"][0]
    assert f"Approved by {step['decidedBy']}" in approvals and step["decidedBy"]
    # Absolute times (UTC) with the time from the start below them
    assert '00:00:00 UTC<br><span class="rel">+00:00:00</span>' in approvals


def test_the_report_says_when_and_by_what_it_was_generated_and_who_started_the_rehearsal(example):
    generated = datetime.fromisoformat(example["generatedAt"].replace("Z", "+00:00"))
    assert timedelta(0) <= datetime.now(tz=UTC) - generated < timedelta(days=1)  # made in this test run
    assert example["generator"] == version_text()
    assert example["startedBySource"] == "rehearsal" and example["startedBy"]
    assert "planVersion" in example and example["cancelledBy"] is None and example["cancelledAt"] is None


def test_a_rejection_before_the_first_wave_shows_every_target(rejected):
    assert rejected["status"] == "FAILED" and rejected["serverCounts"]["launched"] == 0
    step = rejected["waves"][0]["steps"][0]
    assert (step["kind"], step["status"], step["decision"]) == ("Approval", "REJECTED", "REJECT")
    verdict = rejected["verdict"]
    assert "step 'Change board' before wave 1 (db) ended REJECTED" in verdict
    assert "RTO of 45m00s missed (not recovered: the drill ended FAILED)" in verdict
    assert "RPO of 15m00s not judged (no server launched)" in verdict
    page = html.render(rejected)
    rpo = page[page.index('data-figure="rpo"') :]
    assert rpo[: rpo.index("</dd>")].endswith('15m00s: <span class="none">not judged: no server launched</span>')
    assert "no target" not in page


def test_the_rto_is_measured_to_the_recovery_and_the_cleanup_shown_apart(example):
    report = copy.deepcopy(example)
    recovered = report["rto"]["achievedSeconds"]
    report["makespanSeconds"] = recovered + 30 * 60 + 60
    report["cleanup"] = {
        "status": "COMPLETED",
        "terminated": ["i-1", "i-2"],
        "jobIds": ["drsjob-1"],
        "startedAt": recovered + 30 * 60,
        "endedAt": recovered + 30 * 60 + 60,
        "afterMinutes": 30,
        "waitStartedAt": recovered,
    }
    judged = judge.complete(report)
    assert judged["rto"]["achievedSeconds"] == recovered and judged["rto"]["met"] is True
    assert problems(judged) == []
    page = html.render(judged)
    split = page[page.index('id="time-split"') :]
    split = split[: split.index("</p>")]
    assert "measured to the last wave&#x27;s recovery" in split and "+00:29:27 (00:29:27 UTC)" in split
    assert "ran 31m00s longer for the drill cleanup" in split
    assert "Planned 30 min after the drill ended (it ended at 00:29:27 UTC, so due at 00:59:27 UTC)" in split
    assert "Ran from 00:59:27 UTC to 01:00:27 UTC: 2 recovery instance(s) terminated" in split
    assert "1h00m27s, of which drill cleanup 31m00s" in page


def test_a_cleanup_run_after_the_end_is_the_operators_not_the_plans(example):
    """`drsctl run cleanup` after a drill without DrillCleanup: its record's Cleanup has AfterMinutes 0 and started
    after the execution's end. Not "Planned 0 min after the drill ended", nor time the execution ran for it."""
    report = copy.deepcopy(example)
    report["source"] = "deployed"
    end = report["makespanSeconds"]
    report["cleanup"] = {
        "status": "COMPLETED",
        "terminated": ["i-1", "i-2"],
        "jobIds": ["drsjob-1"],
        "startedAt": end + 3600,
        "endedAt": end + 3660,
        "afterMinutes": 0,
        "waitStartedAt": end - 5,
    }
    page = html.render(judge.complete(report))
    split = page[page.index('id="time-split"') :]
    split = split[: split.index("</p>")]
    assert "longer for the drill cleanup" not in split and "Planned 0 min" not in page
    assert "The drill cleanup came after the execution, shown apart" in split
    assert "`drsctl run cleanup rehearsal-storefront-drill` started it after the execution had ended" in split
    assert "Ran from 01:29:27 UTC to 01:30:27 UTC: 2 recovery instance(s) terminated" in split
    assert "of which drill cleanup" not in page  # the execution ran none of it
    bar = page[page.index('data-stage="cleanup"') :]
    assert 'class="seg wait"' not in bar[: bar.index("</li>")]  # no wait of the plan's to draw


def test_a_stopped_drill_whose_servers_were_still_launching_names_run_cleanup(example):
    """Stopped while a wave's DRS job ran: DRS finishes the launch, so drill instances come up after the end. The
    page must not say the drill launched none and leave them up."""
    report = copy.deepcopy(example)
    report.update(source="deployed", status="CANCELLED", cleanup=None)
    for server in report["waves"][0]["servers"]:
        server.update(status="UNKNOWN", error="JOB_STILL_RUNNING", recoveryInstanceId=None, launchedAt=None)
    for wave in report["waves"][1:]:
        wave["status"] = "SKIPPED"
        for server in wave["servers"]:
            server.update(status="SKIPPED", error="NOT_STARTED", recoveryInstanceId=None, launchedAt=None)
    page = html.render(judge.complete(report))
    said = page[page.index('id="cleanup"') :]
    said = said[: said.index("</section>")]
    assert "launched no recovery instance" not in said
    assert "4 server(s) were still in DRS launch jobs when it ended" in said
    assert "Terminate them with `drsctl run cleanup rehearsal-storefront-drill`" in said


def test_the_rpo_is_explained_with_its_worst_server(example, critical_failure):
    page = html.render(example)
    measure = page[page.index('id="rpo-measure"') :]
    measure = measure[: measure.index("</p>")]
    assert "The RPO is measured per launched server" in measure
    assert "Worst: 0s" in measure and "the target, 15m00s, is met" in measure
    worst = critical_failure["rpo"]["worstSeconds"]
    assert worst >= 1800  # db-0 replicates 30 minutes behind
    page = html.render(critical_failure)
    measure = page[page.index('id="rpo-measure"') :]
    measure = measure[: measure.index("</p>")]
    assert f"Worst: {judge.duration(worst)}," in measure and "(&lt;b&gt;db-0&lt;/b&gt; &amp; co)" in measure
    assert "the target, 15m00s, is missed" in measure


def test_an_identity_breaks_only_after_its_colons_and_slashes(example):
    report = {**example, "startedBy": "arn:aws:sts::123456789012:assumed-role/DrOperator/alice"}
    started = html.render(report)
    started = started[started.index('data-figure="started-by"') :]
    assert '<span class="id principal">arn:<wbr>aws:<wbr>sts:<wbr>:<wbr>123456789012:<wbr>assumed-role/<wbr>' in started


def test_only_a_rehearsal_says_it_is_not_a_drill_on_aws(example):
    page = html.render(example)
    assert "REHEARSAL, not a drill on AWS" in page
    assert '@top-center { content: "REHEARSAL, not a drill on AWS"' in page  # on every printed page
    deployed = html.render({**example, "source": "deployed"})
    assert "REHEARSAL" not in deployed and "@top-center" not in deployed
    sandbox = html.render({**example, "source": "sandbox", "mode": "RECOVERY"})
    assert "REHEARSAL, not a recovery on AWS" in sandbox and "drsctl sandbox" in sandbox


def test_developer_figures_and_the_state_machine_are_appendices(example):
    page = html.render(example)
    for section in ('id="figures"', 'id="state-machine"'):
        start = page.index(section)
        tag = page[page.rfind("<section", 0, start) : page.index(">", start)]
        assert page.rfind("<section", 0, start) > page.index('id="cleanup"')  # after the audit's sections
        assert 'class="page appendix"' in tag
        assert "<details>" in page[start : start + 400]  # folded
    summary = page[page.index('id="summary"') : page.index('id="timeline"')]
    assert "history events" not in summary and "DynamoDB" not in summary


def test_the_activity_counts_are_the_histories_loops(example, critical_failure):
    for report in (example, critical_failure):
        counts, waves = report["stateCounts"], report["waves"]
        assert sum(w["activity"]["jobChecks"] for w in waves) == counts["Check wave jobs"]
        assert sum(w["activity"]["startRounds"] for w in waves) == counts["Start wave recovery"]
        assert report["activity"]["lockRounds"] == counts["Lock the plan's servers"]
        assert all(w["activity"]["taskRetries"] == 0 for w in waves)
    assert [w["activity"]["jobChecks"] > 0 for w in critical_failure["waves"]] == [True, False, False]


def test_the_states_counted_are_the_definitions():
    definition = json.loads((ROOT / "statemachine" / "recovery_plan.asl.json").read_text())
    names = set(definition["States"]) | set(definition["States"]["Run waves in order"]["ItemProcessor"]["States"])
    counted = {activity.LOCK, activity.CHECK_TERMINATE, *activity.WAVE_COUNTS, *activity.STEP_STATES}
    assert counted <= names, counted - names


def test_retried_tasks_are_counted_for_their_wave_and_step():
    plan = three_wave_plan()
    plan["Waves"][1]["Before"] = [{"Name": "Warm the caches", "Lambda": {"FunctionName": "drs-hook-warm"}}]
    scenario = three_tier_scenario(functions={"drs-hook-warm": {"seconds": 30}})
    from drsctl.emulator import Scenario

    with local_aws(Scenario.model_validate(scenario)) as aws:
        aws.load_plan(RecoveryPlan.model_validate(plan))
        # Lambda.ServiceException: the state machine's Retry policies try again
        aws.engine.faults.lambdas += [
            LambdaFault("check-wave", 2, "service_error"),
            LambdaFault("drs-hook-warm", 1, "service_error"),
        ]
        described = aws.wait(aws.start_execution({"PlanId": "shop", "ExecutionType": "DRILL"}, "retried"))
        report = run.report(aws, described, "retried", "DRILL", 0.0).to_dict()
    assert report["status"] == "COMPLETED"
    first, second, third = report["waves"]
    assert first["activity"]["taskRetries"] == 1 and second["activity"]["taskRetries"] == 0
    assert second["steps"][0]["retries"] == 1 and third["activity"]["taskRetries"] == 0
    page = html.render(report)
    row = re.search(r'<tr class="plan-step"[^>]*data-name="Warm the caches"[^>]*>', page)
    assert row, "the plan view has no row for the hook"
    shown = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', row.group(0)))
    assert shown["kind"] == "Lambda" and shown["status"] == "SUCCEEDED" and shown["retries"] == "1"
    # The hook runs 30 s; its failed first attempt adds the Retry's wait, so the step took longer, not less.
    took = second["steps"][0]["endedAt"] - second["steps"][0]["startedAt"]
    assert float(shown["seconds"]) == round(took, 1) and 30 < took < 40


def _event(arn: str, caller: dict, error: str | None = None) -> dict:
    detail = {"eventName": "StartExecution", "userIdentity": caller, "responseElements": {"executionArn": arn}}
    if error:
        detail = {**detail, "errorCode": error, "responseElements": None}
    return {"EventId": "e", "EventName": "StartExecution", "CloudTrailEvent": json.dumps(detail)}


EXECUTION = "arn:aws:states:us-east-1:111122223333:execution:DrsOrchestrator-RecoveryPlan:drill-1"


def _lookup(stubber: Stubber, events: list[dict], *, token: str | None = None, after: str | None = None) -> None:
    """One LookupEvents page: the request the paginator makes (the page it continues, if any) and its answer."""
    expected = {
        "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "StartExecution"}],
        "StartTime": START - cloudtrail.WINDOW,
        "EndTime": START + cloudtrail.WINDOW,
        "MaxResults": cloudtrail.PAGE_SIZE,
        **({"NextToken": after} if after else {}),
    }
    stubber.add_response("lookup_events", {"Events": events, **({"NextToken": token} if token else {})}, expected)


def test_cloudtrail_names_who_called_start_execution_for_this_execution():
    client = boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        refused = _event(EXECUTION, {"arn": BOB}, error="AccessDenied")  # a refused call started nothing
        _lookup(stubber, [refused, _event(EXECUTION + "-2", {"arn": BOB})], token="page-2")
        _lookup(stubber, [_event(EXECUTION, {"arn": ALICE})], after="page-2")
        assert cloudtrail.started_by(client, EXECUTION, START) == ALICE
        stubber.assert_no_pending_responses()
    with Stubber(client) as stubber:
        _lookup(stubber, [_event(EXECUTION, {"invokedBy": "scheduler.amazonaws.com"})])
        assert cloudtrail.started_by(client, EXECUTION, START) == "AWS service scheduler.amazonaws.com"
    with Stubber(client) as stubber:
        stubber.add_client_error("lookup_events", "AccessDeniedException", "not authorized: cloudtrail:LookupEvents")
        assert cloudtrail.started_by(client, EXECUTION, START) is None  # best effort: the report is built anyway
    with Stubber(client) as stubber:
        _lookup(stubber, [])
        assert cloudtrail.started_by(client, EXECUTION, START) is None


def test_who_started_it_comes_from_the_best_source():
    never = lambda: pytest.fail("CloudTrail is not asked when the record says")  # noqa: E731
    assert audit.started_by(ALICE, cloudtrail=never, given="typed") == (ALICE, "record")
    assert audit.started_by(None, cloudtrail=lambda: BOB, given="typed") == (BOB, "cloudtrail")
    assert audit.started_by(None, cloudtrail=lambda: None, given="typed") == ("typed", "option")
    assert audit.started_by(None, rehearsal="drsctl rehearse (ci)") == ("drsctl rehearse (ci)", "rehearsal")
    assert audit.started_by(None, cloudtrail=lambda: None) == (None, None)
