"""Each readiness rule has its pair: an estate that must trigger it, naming the server (or Region) and a fix, and one
that must not (no false positive). The estate is the emulator's (tests/readiness/conftest.py), read as AWS is read."""

from __future__ import annotations

from lambdas.core.readiness.estate import Drill, HeldLock
from tests.readiness.conftest import (
    ACCOUNT,
    BIG,
    DISCONNECTED,
    GONE,
    HALF_LAG,
    HEALTHY,
    LAGGING,
    NO_GROUP,
    NO_PROFILE,
    NO_SUBNET,
    NOT_OFFERED,
    STALLED,
    WEB,
    on,
    plan,
    servers,
)

DAY = 86_400
RPO_30 = {"RpoTargetMinutes": 30}


def _one(result, code):
    found = [f for f in result.findings if f.code == code]
    assert len(found) == 1, found
    return found[0]


# -- REPLICATION_NOT_HEALTHY --------------------------------------------------------------------------------------


def test_replication_not_healthy_names_the_stalled_server_and_only_it(readiness_of):
    result = readiness_of(plan(servers("g", STALLED, *HEALTHY)), "REPLICATION_NOT_HEALTHY")
    assert on(result, "REPLICATION_NOT_HEALTHY") == {STALLED: "FAIL"}
    finding = _one(result, "REPLICATION_NOT_HEALTHY")
    assert finding.hostname == "stalled" and "STALLED" in finding.detail and "Replication Agent" in finding.fix
    assert result.status == "FAIL"


def test_replication_not_healthy_is_silent_when_every_server_is_continuous(readiness_of):
    result = readiness_of(plan(servers("g", *HEALTHY, LAGGING)), "REPLICATION_NOT_HEALTHY")
    assert result.findings == [] and result.status == "PASS"


# -- LAG_OVER_RPO -------------------------------------------------------------------------------------------------


def test_lag_over_rpo_fails_past_the_rpo_and_warns_past_half_of_it(readiness_of):
    result = readiness_of(plan(servers("g", LAGGING, HALF_LAG, *HEALTHY), options=RPO_30), "LAG_OVER_RPO")
    assert on(result, "LAG_OVER_RPO") == {LAGGING: "FAIL", HALF_LAG: "WARN"}
    failing = next(f for f in result.findings if f.sourceServerId == LAGGING)
    assert "120 minutes" in failing.detail and "RPO of 30 minutes" in failing.detail
    assert "RpoTargetMinutes" in failing.fix


def test_lag_over_rpo_is_silent_within_half_the_rpo_or_without_one(readiness_of):
    assert readiness_of(plan(servers("g", *HEALTHY), options=RPO_30), "LAG_OVER_RPO").findings == []
    # 20 minutes behind is nothing to say about a plan with a 60-minute RPO, nor about one that states none
    assert readiness_of(plan(servers("g", HALF_LAG), options={"RpoTargetMinutes": 60}), "LAG_OVER_RPO").findings == []
    assert readiness_of(plan(servers("g", LAGGING)), "LAG_OVER_RPO").findings == []


def test_a_server_not_replicating_is_judged_by_its_newest_snapshot_when_that_is_older_than_its_lag(readiness_of):
    # DISCONNECTED, 25 minutes behind: its newest recovery snapshot (every 10 minutes) is 30 minutes old, over 28
    result = readiness_of(plan(servers("g", DISCONNECTED), options={"RpoTargetMinutes": 28}), "LAG_OVER_RPO")
    assert on(result, "LAG_OVER_RPO") == {DISCONNECTED: "FAIL"}
    assert "newest recovery snapshot" in _one(result, "LAG_OVER_RPO").detail
    # the lag alone (25 minutes) would only have warned: the snapshot is what fails it
    assert on(readiness_of(plan(servers("g", HALF_LAG)), "LAG_OVER_RPO"), "LAG_OVER_RPO") == {}


# -- SERVER_NOT_FOUND ---------------------------------------------------------------------------------------------


def test_server_not_found_names_the_listed_server_drs_does_not_know(readiness_of):
    result = readiness_of(plan(servers("g", GONE, *HEALTHY)), "SERVER_NOT_FOUND")
    assert on(result, "SERVER_NOT_FOUND") == {GONE: "FAIL"}
    assert "us-east-1" in _one(result, "SERVER_NOT_FOUND").detail


def test_a_selector_warns_when_it_matches_fewer_servers_than_at_load_and_fails_when_none(readiness_of):
    web = {"GroupId": "web", "Selector": {"Tags": {"Tier": "web"}}}
    fewer = readiness_of(plan(web), "SERVER_NOT_FOUND", baseline={"web": len(WEB) + 1})
    assert on(fewer, "SERVER_NOT_FOUND") == {"us-east-1": "WARN"}
    assert f"{len(WEB) + 1}" in _one(fewer, "SERVER_NOT_FOUND").detail
    none = readiness_of(plan({"GroupId": "web", "Selector": {"Tags": {"Tier": "nothing"}}}), "SERVER_NOT_FOUND")
    assert on(none, "SERVER_NOT_FOUND") == {"us-east-1": "FAIL"}


def test_server_not_found_is_silent_when_every_server_is_there_and_a_selector_kept_its_count(readiness_of):
    web = {"GroupId": "web", "Selector": {"Tags": {"Tier": "web"}}}
    assert readiness_of(plan(servers("g", *HEALTHY), web), "SERVER_NOT_FOUND", baseline={"web": 2}).findings == []
    assert readiness_of(plan(web), "SERVER_NOT_FOUND", baseline=None).findings == []  # no count at load yet


# -- LAUNCH_CONFIG_INVALID ----------------------------------------------------------------------------------------


def test_launch_config_invalid_names_each_broken_launch_template_on_its_server(readiness_of):
    result = readiness_of(
        plan(servers("g", NO_SUBNET, NO_GROUP, NO_PROFILE, NOT_OFFERED, *HEALTHY)), "LAUNCH_CONFIG_INVALID"
    )
    assert on(result, "LAUNCH_CONFIG_INVALID") == {s: "FAIL" for s in (NO_SUBNET, NO_GROUP, NO_PROFILE, NOT_OFFERED)}
    detail = {f.sourceServerId: f.detail for f in result.findings}
    assert "subnet" in detail[NO_SUBNET] and "no longer exists" in detail[NO_SUBNET]
    assert "security group" in detail[NO_GROUP]
    assert "instance profile" in detail[NO_PROFILE]
    assert "not offered in us-east-1d" in detail[NOT_OFFERED]
    assert all(f.fix and f.hostname for f in result.findings)


def test_launch_config_invalid_is_silent_for_valid_launch_templates(readiness_of):
    assert readiness_of(plan(servers("g", *HEALTHY, STALLED)), "LAUNCH_CONFIG_INVALID").findings == []


def test_an_instance_profile_that_cannot_be_looked_up_warns_and_never_fails(readiness_of, monkeypatch):
    """IAM refusing GetInstanceProfile (a member role without the read, say) is not a broken launch template."""
    from botocore.exceptions import ClientError

    from lambdas.core.readiness import reads

    def refused(where, name):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "GetInstanceProfile")

    monkeypatch.setattr(reads, "instance_profile_exists", refused)
    result = readiness_of(plan(servers("g", HEALTHY[0], NO_SUBNET)), "LAUNCH_CONFIG_INVALID")
    severities = sorted((f.sourceServerId, f.severity, "could not be checked" in f.detail) for f in result.findings)
    assert severities == sorted([(HEALTHY[0], "WARN", True), (NO_SUBNET, "FAIL", False), (NO_SUBNET, "WARN", True)])
    assert all("deploy this version of the stack" in f.fix for f in result.findings if f.severity == "WARN")


# -- CAPACITY_SHORT -----------------------------------------------------------------------------------------------


def test_capacity_short_fails_where_the_largest_wave_needs_more_vcpus_than_are_free(readiness_of):
    result = readiness_of(plan(servers("west", BIG, region="us-west-2"), servers("east", *HEALTHY)), "CAPACITY_SHORT")
    assert on(result, "CAPACITY_SHORT") == {"us-west-2": "FAIL"}
    finding = _one(result, "CAPACITY_SHORT")
    assert "16 vCPUs" in finding.detail and "only 4 are free" in finding.detail and "L-1216C47A" in finding.fix
    assert f"{BIG} (m5.4xlarge)" in finding.detail  # the wave's servers named, the largest first


def test_capacity_short_warns_when_a_wave_will_queue_for_drs_jobs(readiness_of):
    queued = {"MaxServersPerJob": 1, "MaxConcurrentJobs": 2, "MaxServersInActiveJobs": 2}
    result = readiness_of(plan(servers("g", *HEALTHY), options=queued), "CAPACITY_SHORT")
    assert on(result, "CAPACITY_SHORT") == {"us-east-1": "WARN"}
    assert "3 DRS job(s)" in _one(result, "CAPACITY_SHORT").detail


def test_capacity_short_is_silent_with_room_and_quotas_to_spare(readiness_of):
    assert readiness_of(plan(servers("g", *HEALTHY)), "CAPACITY_SHORT").findings == []


# -- DRILL_OVERDUE ------------------------------------------------------------------------------------------------


class Drills:
    def __init__(self, *drills: Drill) -> None:
        self.drills = sorted(drills, key=lambda d: d.start_time, reverse=True)

    def executions(self, plan_id, since):
        return [d for d in self.drills if d.start_time >= since]


def _drill(readiness_of, raw_plan, *, days_ago, version=None, status="COMPLETED", minutes=20):
    from lambdas.core.plan import parse_plan
    from lambdas.core.plan_version import plan_version

    start = int(readiness_of.clock.now()) - days_ago * DAY
    return Drill(
        f"drill-{days_ago}-{status}",
        "DRILL",
        status,
        start,
        start + minutes * 60,
        version or plan_version(parse_plan(raw_plan)),
    )


def test_drill_overdue_warns_never_drilled_and_drilled_too_long_ago_or_another_version(readiness_of):
    raw = plan(servers("g", *HEALTHY))
    never = readiness_of(raw, "DRILL_OVERDUE")
    assert on(never, "DRILL_OVERDUE") == {None: "WARN"} and "never drilled" in never.findings[0].detail
    assert never.status == "WARN"
    old = readiness_of(raw, "DRILL_OVERDUE", history=Drills(_drill(readiness_of, raw, days_ago=91)))
    assert on(old, "DRILL_OVERDUE") == {None: "WARN"}
    other = readiness_of(raw, "DRILL_OVERDUE", history=Drills(_drill(readiness_of, raw, days_ago=3, version="0" * 12)))
    assert "ran version 000000000000" in other.findings[0].detail
    failed = readiness_of(raw, "DRILL_OVERDUE", history=Drills(_drill(readiness_of, raw, days_ago=3, status="FAILED")))
    assert on(failed, "DRILL_OVERDUE") == {None: "WARN"}


def test_drill_overdue_is_silent_after_a_completed_drill_of_this_version_within_drill_every_days(readiness_of):
    raw = plan(servers("g", *HEALTHY), options={"DrillEveryDays": 30})
    recent = Drills(_drill(readiness_of, raw, days_ago=29))
    assert readiness_of(raw, "DRILL_OVERDUE", history=recent).findings == []


# -- RTO_AT_RISK --------------------------------------------------------------------------------------------------


def test_rto_at_risk_warns_when_the_last_drill_took_longer_than_the_rto(readiness_of):
    raw = plan(servers("g", *HEALTHY), options={"RtoTargetMinutes": 45})
    slow = Drills(_drill(readiness_of, raw, days_ago=2, minutes=60))
    result = readiness_of(raw, "RTO_AT_RISK", history=slow)
    assert on(result, "RTO_AT_RISK") == {None: "WARN"}
    assert "took 60 minutes" in result.findings[0].detail and "RTO of 45 minutes" in result.findings[0].detail


def test_rto_at_risk_is_silent_when_the_last_drill_met_the_rto_or_there_is_no_rto(readiness_of):
    raw = plan(servers("g", *HEALTHY), options={"RtoTargetMinutes": 45})
    fast = Drills(_drill(readiness_of, raw, days_ago=2, minutes=60), _drill(readiness_of, raw, days_ago=1, minutes=30))
    assert readiness_of(raw, "RTO_AT_RISK", history=fast).findings == []  # the last one counts
    no_rto = plan(servers("g", *HEALTHY))
    assert (
        readiness_of(
            no_rto, "RTO_AT_RISK", history=Drills(_drill(readiness_of, no_rto, days_ago=1, minutes=900))
        ).findings
        == []
    )


# -- LOCK_STALE ---------------------------------------------------------------------------------------------------


class Held:
    def __init__(self, *stale: HeldLock) -> None:
        self.stale_locks = stale
        self.asked: list[str] = []

    def stale(self, lock_ids):
        self.asked = lock_ids
        return [lock for lock in self.stale_locks if lock.lock_id in lock_ids]


def test_lock_stale_warns_on_a_lock_held_by_an_ended_execution_naming_its_server(readiness_of):
    lock = HeldLock(f"server#{ACCOUNT}#us-east-1#{HEALTHY[0]}", "old-drill", "estate", "COMPLETED")
    locks = Held(lock)
    result = readiness_of(plan(servers("g", *HEALTHY)), "LOCK_STALE", locks=locks)
    assert on(result, "LOCK_STALE") == {HEALTHY[0]: "WARN"}
    assert "old-drill" in result.findings[0].detail and "COMPLETED" in result.findings[0].detail
    assert locks.asked[0] == "plan#estate" and len(locks.asked) == 1 + len(HEALTHY)  # the plan's and its servers'


def test_lock_stale_is_silent_when_no_lock_of_the_plan_is_stale(readiness_of):
    other = HeldLock(f"server#us-east-1#{WEB[0]}", "old-drill", "web", "COMPLETED")  # another plan's server
    assert readiness_of(plan(servers("g", *HEALTHY)), "LOCK_STALE", locks=Held(other)).findings == []


# -- all checks at once ---------------------------------------------------------------------------------------------


def test_a_healthy_never_drilled_plan_gets_only_drill_overdue(readiness_of):
    result = readiness_of(plan(servers("g", *HEALTHY), options={"RpoTargetMinutes": 30, "RtoTargetMinutes": 45}))
    assert [(f.code, f.severity) for f in result.findings] == [("DRILL_OVERDUE", "WARN")]
    assert result.status == "WARN"
