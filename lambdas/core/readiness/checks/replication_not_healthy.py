"""REPLICATION_NOT_HEALTHY: a server whose data replication is not CONTINUOUS cannot be drilled from current data."""

from __future__ import annotations

from collections.abc import Iterator

from lambdas.core.readiness.estate import Estate
from lambdas.core.readiness.model import Check, Finding

HEALTHY = "CONTINUOUS"
FIXES = {
    "STALLED": "check the AWS Replication Agent on the server and its network path to the staging area subnet "
    "(TCP 1500), then watch it return to CONTINUOUS in the DRS console",
    "DISCONNECTED": "the server stopped talking to DRS: check that it runs, that its replication agent is running "
    "and that it reaches DRS (TCP 443) and the staging area (TCP 1500)",
    "PAUSED": "resume its replication (DRS console: Source servers > Actions > Resume data replication)",
    "STOPPED": "start its replication again (DRS StartReplication), or remove the server from the plan",
    "INITIAL_SYNC": "wait for the initial sync to finish (DRS console shows its progress) before relying on it",
    "INITIATING": "wait for replication to start; if it stays INITIATING, check the agent's installation logs",
}
DEFAULT_FIX = "wait for it to return to CONTINUOUS; if it does not, check the replication agent and its network path"


def run(estate: Estate) -> Iterator[Finding]:
    for server in estate.found():
        assert server.server is not None
        info = server.server.get("dataReplicationInfo") or {}
        state = str(info.get("dataReplicationState") or "UNKNOWN")
        if state == HEALTHY:
            continue
        lag = info.get("lagDuration")
        yield CHECK.finding(
            "FAIL",
            f"server {server.server_id} ({server.place}) replicates {state}, not CONTINUOUS"
            + (f" (lag {lag})" if lag else "")
            + ": a drill would launch it from stale data, or be refused",
            FIXES.get(state, DEFAULT_FIX),
            account=server.where.account,
            region=server.where.region,
            server_id=server.server_id,
            hostname=server.hostname,
        )


CHECK = Check(
    code="REPLICATION_NOT_HEALTHY",
    severity="FAIL",
    title="A server's data replication is not CONTINUOUS (STALLED, DISCONNECTED, PAUSED, initial sync, ...)",
    reads=("DRS DescribeSourceServers: dataReplicationInfo.dataReplicationState",),
    remediation="Restore the server's replication (agent, network path to the staging area, paused or stopped "
    "replication) until DRS shows it CONTINUOUS; or remove the server from the plan.",
    link="https://docs.aws.amazon.com/drs/latest/APIReference/API_DataReplicationInfo.html",
    run=run,
)
