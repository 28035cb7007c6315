"""SERVER_NOT_FOUND: a server the plan names is gone, or a tag selector now matches fewer servers than when the
plan version was first evaluated (right after `drsctl plan load`)."""

from __future__ import annotations

from collections.abc import Iterator

from lambdas.core.readiness.estate import Estate, FactUnavailable
from lambdas.core.readiness.model import Check, Finding


def run(estate: Estate) -> Iterator[Finding]:
    for where, listed in estate.listings().items():
        if isinstance(listed, FactUnavailable):
            yield CHECK.finding(
                "FAIL",
                f"the plan's servers in {where} cannot be looked up ({listed.reason}): a drill would be refused",
                listed.fix,
                account=where.account,
                region=where.region,
            )
    for server in estate.servers():
        if server.server is None:
            yield CHECK.finding(
                "FAIL",
                f"server {server.server_id} ({server.place}) is not a DRS source server in {server.where}",
                "check the server ID and the group's Region (and account); if it was removed from DRS, remove it "
                "from the plan and load it again (drsctl plan load)",
                account=server.where.account,
                region=server.where.region,
                server_id=server.server_id,
            )
    for group in {g.GroupId: g for w in estate.plan.Waves for g in estate.groups_of(w)}.values():
        if group.Selector is None or group.GroupId not in estate.selector_counts():
            continue
        where = estate.where_of(group)
        count = estate.selector_counts()[group.GroupId]
        before = (estate.baseline or {}).get(group.GroupId)
        tags = ", ".join(f"{key}={value}" for key, value in group.Selector.Tags.items())
        if count == 0:
            yield CHECK.finding(
                "FAIL",
                f"protection group {group.GroupId} selects no source server in {where} (tags {tags}): a drill "
                "would be refused",
                "tag the servers in DRS, or fix the selector's tags or the group's Region",
                account=where.account,
                region=where.region,
            )
        elif before is not None and count < before:
            yield CHECK.finding(
                "WARN",
                f"protection group {group.GroupId} selects {count} server(s) in {where} (tags {tags}), "
                f"{before - count} fewer than the {before} it selected when plan version {estate.version} was loaded",
                "if servers left DRS or lost their tags by mistake, tag them again; if the estate shrank on purpose, "
                "load the plan again (drsctl plan load) to make this the new count",
                account=where.account,
                region=where.region,
            )


CHECK = Check(
    code="SERVER_NOT_FOUND",
    severity="FAIL or WARN",
    title="A server the plan lists is gone (FAIL); a tag selector matches fewer servers than when the plan was "
    "loaded (WARN), or none (FAIL)",
    reads=("DRS DescribeSourceServers: one listing per account and Region",),
    remediation="Fix the server IDs, Regions and accounts of the plan's protection groups, or the servers' tags in "
    "DRS; load the plan again when the estate changed on purpose.",
    link="https://docs.aws.amazon.com/drs/latest/APIReference/API_DescribeSourceServers.html",
    run=run,
)
