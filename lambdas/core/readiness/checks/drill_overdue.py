"""DRILL_OVERDUE: no drill of this plan version has COMPLETED within Options.DrillEveryDays (default 90): AWS asks for
drills several times a year, and a plan changed since its last drill has never been proven."""

from __future__ import annotations

from collections.abc import Iterator

from lambdas.core.readiness.estate import Estate
from lambdas.core.readiness.model import Check, Finding, iso

DAY = 86_400


def run(estate: Estate) -> Iterator[Finding]:
    days = estate.options.DrillEveryDays
    since = estate.now - days * DAY
    drills = [e for e in estate.executions_since(since) if e.execution_type == "DRILL" and e.status == "COMPLETED"]
    if any(drill.plan_version == estate.version for drill in drills):
        return
    plan_id = estate.plan.PlanId
    fix = (
        f"run a drill of the plan as it is now (drsctl run start {plan_id}), or give the plan a Schedule so it drills "
        "on its own"
    )
    if drills:
        last = drills[0]
        detail = (
            f"plan version {estate.version} has not been drilled: the last COMPLETED drill in the last {days} days, "
            f"{last.execution_id} ({iso(last.start_time)}), ran version {last.plan_version or 'unknown'}"
        )
    else:
        detail = (
            f"no drill of plan {plan_id} has COMPLETED in the last {days} days (Options.DrillEveryDays): never drilled"
        )
        if not estate.history_known:
            detail += " (no execution history here: a plan file is checked without the stack's records)"
    yield CHECK.finding("WARN", detail, fix)


CHECK = Check(
    code="DRILL_OVERDUE",
    severity="WARN",
    title="No drill of this plan version has COMPLETED within Options.DrillEveryDays (default 90)",
    reads=("ExecutionHistory (index PlanExecutionsByTime): the plan's executions of the last DrillEveryDays days",),
    remediation="Run a drill of the current plan version, or schedule drills (the plan's Schedule).",
    link="https://docs.aws.amazon.com/drs/latest/userguide/preparing-failover.html",
    run=run,
)
