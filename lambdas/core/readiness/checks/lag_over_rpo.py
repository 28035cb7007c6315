"""LAG_OVER_RPO: a server whose replication lags (or whose newest recovery snapshot is older) past the plan's RPO."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from lambdas.core.readiness.estate import Estate, FactUnavailable, duration_seconds
from lambdas.core.readiness.model import Check, Finding, Severity

SNAPSHOT_LOOKUPS_MAX = 50  # DescribeRecoverySnapshots calls per evaluation: servers not CONTINUOUS, first ones


def run(estate: Estate) -> Iterator[Finding]:
    target = estate.options.RpoTargetMinutes
    if target is None:
        return  # the plan states no RPO: nothing to compare with
    lookups = 0
    for server in estate.found():
        assert server.server is not None
        info = server.server.get("dataReplicationInfo") or {}
        lag = duration_seconds(info.get("lagDuration"))
        seen = f"its replication lags {info.get('lagDuration')}" if lag is not None else None
        if info.get("dataReplicationState") != "CONTINUOUS" and lookups < SNAPSHOT_LOOKUPS_MAX:
            lookups += 1
            try:
                taken = estate.snapshot_time(server)
            except FactUnavailable:
                taken = None  # the lag alone is judged; the snapshot's age was a second opinion
            if taken is not None:
                age = estate.now - datetime.fromisoformat(taken.replace("Z", "+00:00")).timestamp()
                if lag is None or age > lag:
                    lag, seen = age, f"its newest recovery snapshot was taken {taken}"
        if lag is None:
            continue
        minutes = lag / 60
        if minutes <= target / 2:
            continue
        severity: Severity = "FAIL" if minutes > target else "WARN"
        yield CHECK.finding(
            severity,
            f"server {server.server_id} ({server.place}): {seen}, so a recovery now would lose {minutes:.0f} "
            + (
                f"minutes of data, more than the plan's RPO of {target:g} minutes"
                if severity == "FAIL"
                else f"minutes of data, more than half the plan's RPO of {target:g} minutes"
            ),
            "bring replication back to CONTINUOUS with a small lag (agent, bandwidth to the staging area, the "
            "replication server's size), or raise Options.RpoTargetMinutes if the plan may lose more",
            account=server.where.account,
            region=server.where.region,
            server_id=server.server_id,
            hostname=server.hostname,
        )


CHECK = Check(
    code="LAG_OVER_RPO",
    severity="FAIL or WARN",
    title="A server's replication lag, or its newest recovery snapshot's age, is over the plan's RPO "
    "(Options.RpoTargetMinutes; WARN over half of it)",
    reads=(
        "DRS DescribeSourceServers: dataReplicationInfo.lagDuration",
        "DRS DescribeRecoverySnapshots: the newest snapshot of a server not CONTINUOUS (at most 50 per evaluation)",
    ),
    remediation="Reduce the lag (replication agent health, bandwidth and the replication server's instance type), "
    "or state the RPO the plan can meet.",
    link="https://docs.aws.amazon.com/drs/latest/APIReference/API_DescribeRecoverySnapshots.html",
    run=run,
)
