"""RTO_AT_RISK: the plan's last drill took longer than its RTO (Options.RtoTargetMinutes); without a drill, a
rehearsal's makespan (`drsctl plan readiness PLAN_FILE --scenario S --rehearse`)."""

from __future__ import annotations

from collections.abc import Iterator

from lambdas.core.readiness.estate import Drill, Estate
from lambdas.core.readiness.model import Check, Finding, iso

LOOK_BACK_DAYS = 400  # the last drill is looked for this far back (as long as the reports are kept)
ENDED = ("COMPLETED", "PARTIAL")


def run(estate: Estate) -> Iterator[Finding]:
    target = estate.options.RtoTargetMinutes
    if target is None:
        return  # the plan states no RTO
    drills = [
        e
        for e in estate.executions_since(estate.now - LOOK_BACK_DAYS * 86_400)
        if e.execution_type == "DRILL" and e.status in ENDED and e.end_time is not None
    ]
    last = next((d for d in drills if d.plan_version == estate.version), drills[0] if drills else None)
    if last is not None:
        minutes = (_ended_at(last) - last.start_time) / 60
        seen = (
            f"the last drill, {last.execution_id} ({iso(last.start_time)}, version {last.plan_version}), took "
            f"{minutes:.0f} minutes"
        )
    elif estate.predicted_makespan is not None:
        minutes = estate.predicted_makespan / 60
        seen = f"no drill yet: a rehearsal of the plan against the emulated estate took {minutes:.0f} minutes"
    else:
        return  # nothing measured: DRILL_OVERDUE already says it was never drilled
    if minutes <= target:
        return
    yield CHECK.finding(
        "WARN",
        f"{seen}, over the plan's RTO of {target:g} minutes (Options.RtoTargetMinutes)",
        "look at the drill report's critical path (drsctl run report NAME): merge small waves, move servers that "
        "need not wait into earlier waves, shorten runbook steps, or state the RTO the plan can meet",
    )


def _ended_at(drill: Drill) -> int:
    assert drill.end_time is not None
    return drill.end_time


CHECK = Check(
    code="RTO_AT_RISK",
    severity="WARN",
    title="The last drill's makespan, or a rehearsal's, is over the plan's RTO (Options.RtoTargetMinutes)",
    reads=(
        "ExecutionHistory (index PlanExecutionsByTime): the last COMPLETED or PARTIAL drill, its StartTime and "
        "EndTime (the waves' end, before any drill cleanup)",
        "without a drill: the makespan of a rehearsal of the plan (drsctl plan readiness PLAN_FILE --rehearse)",
    ),
    remediation="Shorten the plan's critical path (fewer, fuller waves; shorter runbook steps) or state an RTO it "
    "can meet.",
    link="https://docs.aws.amazon.com/wellarchitected/latest/reliability-pillar/rel_planning_for_recovery_dr_tested.html",
    run=run,
)
