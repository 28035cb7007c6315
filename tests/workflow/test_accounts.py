"""Estates over member accounts, and point-in-time recovery, through the real definition, handlers, engine and
emulator: each server known by (account, Region, ID), each account's quotas its own, member roles assumed through
moto's STS, a point in time chosen per server and kept by a resume."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from drsctl.clock import iso8601, parse_iso8601
from drsctl.emulator import Scenario
from drsctl.local import invariants
from drsctl.local.run import rehearse
from drsctl.report import html
from lambdas.core import accounts
from lambdas.core.plan import RecoveryPlan
from lambdas.core.records import ServerRecord, WaveRecord
from lambdas.core.recovery_points import NO_SNAPSHOT
from tests.conftest import server_id
from tests.workflow.conftest import entered, load, run

OWN, MEMBER, OTHER = "111122223333", "444455556666", "777788889999"
EXACT = {"drill": {"snapshot": 1, "preparation": 10, "conversion": 20, "launch": 30}, "jitter": 0}
HOME = [server_id(n, "home") for n in range(2)]
MEM = [server_id(n, "mem") for n in range(3)]
OTH = [server_id(n, "oth") for n in range(2)]
START = 1_767_225_600  # the virtual clock's start: 2026-01-01T00:00:00Z


def estate(**member: Any) -> dict[str, Any]:
    """Two servers in the orchestrator's account (us-east-1), three in MEMBER (us-east-1), two in OTHER (us-west-2)."""
    servers = [{"id": s, "hostname": f"home-{n}"} for n, s in enumerate(HOME)]
    servers += [{"id": s, "hostname": f"mem-{n}", "account": MEMBER} for n, s in enumerate(MEM)]
    servers += [{"id": s, "hostname": f"oth-{n}", "account": OTHER, "region": "us-west-2"} for n, s in enumerate(OTH)]
    return {
        "accountId": OWN,
        "accounts": [{"id": MEMBER, **member}, {"id": OTHER}],
        "seed": 9,
        "timing": EXACT,
        "servers": servers,
    }


def estate_plan(**changes: Any) -> dict[str, Any]:
    return {
        "PlanId": "estate",
        "Name": "Estate",
        "ProtectionGroups": [
            {"GroupId": "home", "Region": "us-east-1", "SourceServerIds": HOME},
            {"GroupId": "mem", "Region": "us-east-1", "Account": MEMBER, "SourceServerIds": MEM},
            {"GroupId": "oth", "Region": "us-west-2", "Account": OTHER, "SourceServerIds": OTH},
        ],
        "Waves": [{"WaveName": "everything", "ProtectionGroupIds": ["home", "mem", "oth"]}],
        **changes,
    }


DRILL = {"PlanId": "estate", "ExecutionType": "DRILL"}


def test_a_wave_over_three_accounts_starts_each_accounts_job_at_once_and_records_where_each_server_is(stage):
    with stage(estate()) as aws:
        load(aws, estate_plan())
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        jobs = sorted(aws.drs.jobs.values(), key=lambda job: job.sequence)
        assert [(job.account, job.region) for job in jobs] == [
            (OWN, "us-east-1"),
            (MEMBER, "us-east-1"),
            (OTHER, "us-west-2"),
        ]
        assert {job.created_at for job in jobs} == {jobs[0].created_at}  # one round: every account at once
        assert entered(history, "Start wave recovery") == 1
        (wave,) = aws.waves("exec-1")
        where = {s.SourceServerId: (s.Account, s.Region, s.Status) for s in wave.Servers}
        assert where == {
            **{s: (OWN, "us-east-1", "LAUNCHED") for s in HOME},
            **{s: (MEMBER, "us-east-1", "LAUNCHED") for s in MEM},
            **{s: (OTHER, "us-west-2", "LAUNCHED") for s in OTH},
        }
        assert (wave.ProtectionGroupId, wave.Region) == ("home,mem,oth", "us-east-1,us-west-2")
        assert aws.record("exec-1", "estate").Waves[0].Accounts == [OWN, MEMBER, OTHER]
        # each member role assumed once per account (credentials cached), with the stack's external ID
        assumed = [(arn.split(":")[4], external) for arn, external, refused in aws.engine.assumed_roles]
        assert sorted(set(assumed)) == [(MEMBER, "drs-orchestrator-rehearsal"), (OTHER, "drs-orchestrator-rehearsal")]
        assert len(assumed) == 2


def test_an_accounts_full_quota_makes_only_its_own_servers_wait(stage):
    scenario = estate(quotas={"maxConcurrentJobs": 1})
    scenario["externalJobs"] = [{"account": MEMBER, "servers": 1, "seconds": 600}]
    with stage(scenario) as aws:
        load(aws, estate_plan())
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        ours = [job for job in aws.drs.jobs.values() if job.tags.get("ExecutionId") == "exec-1"]
        started = {job.account: job.created_at - START for job in ours}
        assert started[OWN] == started[OTHER] == 0  # the free accounts did not queue behind the full one
        assert started[MEMBER] >= 600  # after the other tool's job ended
        assert entered(history, "Waiting for DRS capacity") >= 1
        assert aws.record("exec-1", "estate").Status == "COMPLETED"


def test_a_member_role_that_cannot_be_assumed_refuses_the_plan_before_any_launch(stage):
    with stage(estate(assumable=False)) as aws:
        load(aws, estate_plan())
        described, _ = run(aws, DRILL)
        assert described["status"] == "FAILED" and described["error"] == "PlanValidationError"
        assert aws.drs.calls["StartRecovery"] == 0
        message = aws.record("exec-1", "estate").ErrorMessage or ""
        assert f"account {MEMBER}" in message and f"arn:aws:iam::{MEMBER}:role/drs-orchestrator-member" in message
        assert "make deploy-member" in message and "drs:memberExternalId" in message
        assert OTHER not in message  # the account that could be reached is not blamed


def test_a_server_in_another_account_than_its_group_names_is_refused_saying_where_it_is(stage):
    plan = estate_plan()
    plan["ProtectionGroups"][1]["SourceServerIds"] = [*MEM, OTH[0]]  # OTH[0] is OTHER's, in us-west-2
    with stage(estate()) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["error"] == "PlanValidationError"
        message = aws.record("exec-1", "estate").ErrorMessage or ""
        assert f"server {OTH[0]} is not a DRS source server in us-east-1 of account {MEMBER}" in message
        assert f"(DRS lists it in account {OTHER}, us-west-2)" in message
        assert aws.drs.calls["StartRecovery"] == 0


def test_point_in_time_launches_every_server_from_its_newest_snapshot_at_or_before_it():
    scenario = estate()
    scenario["servers"][2]["lagSeconds"] = 1500  # MEM[0]: its newest snapshots are 25 minutes behind
    moment = "2025-12-31T23:25:00Z"
    report = rehearse(
        RecoveryPlan.model_validate(estate_plan()), Scenario.model_validate(scenario), point_in_time=moment
    )
    assert report.status == "COMPLETED"
    assert report.pointInTime == moment
    servers = {s.sourceServerId: s for wave in report.waves for s in wave.servers}
    points = {server: START + s.recoveryPointAt for server, s in servers.items()}
    # the 10-minute grid: 23:20 for every server, MEM[0]'s newest at all is 23:30 at the start (lag 25 min)
    assert set(points.values()) == {parse_iso8601("2025-12-31T23:20:00Z")}
    assert report.snapshotSkewSeconds == 0
    assert all(s.recoverySnapshotId and s.recoverySnapshotId.startswith("pit-") for s in servers.values())
    assert {s.account for s in servers.values()} == {OWN, MEMBER, OTHER}
    assert {a["account"]: a["launched"] for a in report.to_dict()["accounts"]} == {OWN: 2, MEMBER: 3, OTHER: 2}
    page = html.render(report.to_dict())  # the page says it too: the moment, a row per account, each server's
    assert f"Recovered to {moment}" in page
    assert [f'data-account="{a}"' in page for a in (OWN, MEMBER, OTHER)] == [True, True, True]
    assert f'<td data-field="account" class="id">{MEMBER}</td>' in page


def test_point_in_time_is_refused_naming_a_server_without_a_snapshot_that_old_and_snapshots_too_far_apart():
    scenario = estate()
    scenario["servers"][2]["lagSeconds"] = 100_000  # MEM[0] has no recovery snapshot at all
    scenario["servers"][5]["lagSeconds"] = 7_200  # OTH[0]'s snapshots end two hours before the start
    report = rehearse(
        RecoveryPlan.model_validate(estate_plan()), Scenario.model_validate(scenario), point_in_time=iso8601(START)
    )
    assert report.status == "FAILED" and report.stepFunctionsError == "PlanValidationError"
    message = report.errorMessage or ""
    assert f"DRS has no recovery snapshot taken at or before it for server(s) {MEM[0]}" in message
    assert "the recovery snapshots chosen are 120 min apart" in message and OTH[0] in message
    assert report.drsApiCalls > 0 and report.startRecoveryCalls == 0


def test_a_resume_keeps_the_recovery_snapshots_the_first_execution_chose(stage):
    scenario = estate()
    scenario["servers"][3]["faults"] = ["launch_failure"]  # MEM[1]
    with stage(scenario) as aws:
        load(aws, estate_plan())
        run(aws, {**DRILL, "PointInTime": "2025-12-31T23:00:00Z"})
        first = {s.SourceServerId: s for s in aws.waves("exec-1")[0].Servers}
        assert aws.record("exec-1", "estate").Status == "FAILED"
        aws.drs.repair_servers()
        aws.clock.advance(3600)  # newer snapshots exist now: the resume must not take them
        refused, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1", "PointInTime": "2026-01-01T00:30:00Z"}, "exec-2")
        assert refused["error"] == "PlanValidationError"
        assert "a resume keeps its recovery points" in (aws.record("exec-2", "estate").ErrorMessage or "")
        resumed, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, "exec-3")
        assert resumed["status"] == "SUCCEEDED"
        assert aws.record("exec-3", "estate").PointInTime == parse_iso8601("2025-12-31T23:00:00Z")
        again = {s.SourceServerId: s for s in aws.waves("exec-3")[0].Servers}
        assert again[MEM[1]].Status == "LAUNCHED"
        assert again[MEM[1]].RecoverySnapshotId == first[MEM[1]].RecoverySnapshotId
        launched = [i for i in aws.drs.ec2_instances.values() if i.source_server_id == MEM[1]]
        assert [i.snapshot_at for i in launched] == [parse_iso8601("2025-12-31T23:00:00Z")]


def test_a_record_written_before_accounts_reads_as_the_stacks_own_account(monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_ACCOUNT", OWN)
    wave = WaveRecord.model_validate(
        {
            "WaveNumber": 1,
            "WaveName": "w",
            "ProtectionGroupId": "g",
            "Region": "eu-west-1",
            "Servers": [{"SourceServerId": HOME[0]}],
        }
    )
    (server,) = wave.Servers
    assert (server.Account, server.Region) == (None, None)
    target = wave.target_of(server)
    assert (target.account, target.region) == (OWN, "eu-west-1")
    assert ServerRecord(SourceServerId=HOME[0], Error=NO_SNAPSHOT).Error == NO_SNAPSHOT  # fits the record's field


@pytest.mark.parametrize(
    ("moment", "fix"),
    [
        ("yesterday", "not an ISO 8601"),
        ("2026-01-01T03:00:00", "must be in UTC"),
        ("2026-01-01T03:00:00+02:00", "must be in UTC"),
    ],
)
def test_point_in_time_must_be_iso_8601_in_utc(moment, fix):
    from lambdas.core.errors import PlanValidationError
    from lambdas.core.plan import parse_execution_input

    with pytest.raises(PlanValidationError, match=fix):
        parse_execution_input({**DRILL, "PointInTime": moment})


def test_a_member_role_refused_mid_wave_ends_every_record_with_the_other_accounts_launches_recorded(stage):
    """STS refuses the member role from the wave's first check on (its trust was changed): the wave ends FAILED
    naming the account and role, the servers of the accounts DRS still answers in carry their launches, the member's
    servers are said to be still in their jobs, and nothing is left open or locked."""
    scenario = estate()
    slow = {"launch": 3000}
    for spec in scenario["servers"]:
        if spec.get("account") == MEMBER:
            spec["timing"] = slow  # the member's launches outlast the wave's first check; the others' do not
    with stage(scenario) as aws:

        def deny_at_first_check(name: str, _request: dict[str, Any]) -> None:
            if name.endswith("check-wave") and MEMBER not in aws.engine.faults.assume_role_denied:
                aws.engine.faults = replace(aws.engine.faults, assume_role_denied=frozenset({MEMBER}))
                accounts.forget(MEMBER)  # a new Lambda container: the credentials it held are gone

        aws.engine.before_invoke.append(deny_at_first_check)
        load(aws, estate_plan())
        described, _ = run(aws, DRILL)
        assert described["status"] == "FAILED"
        record = aws.record("exec-1", "estate")
        (wave,) = aws.waves("exec-1")
        assert (record.Status, wave.Status) == ("FAILED", "FAILED")
        status = {s.SourceServerId: (s.Status, s.Error) for s in wave.Servers}
        assert {status[s] for s in HOME + OTH} == {("LAUNCHED", None)}
        assert all(s.InstanceId for s in wave.Servers if s.SourceServerId in HOME + OTH)
        assert {status[s] for s in MEM} == {("UNKNOWN", "JOB_STILL_RUNNING")}
        message = wave.ErrorMessage or ""
        assert f"account {MEMBER}" in message and f"arn:aws:iam::{MEMBER}:role/drs-orchestrator-member" in message
        assert all(s in message for s in MEM) and not any(s in message for s in HOME + OTH)
        assert "What to do:" in message
        assert not invariants.check(aws.drs)  # every record, wave and server final; no lock left; each launched once
