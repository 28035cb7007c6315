"""docs/readiness.md, generated from the checks' own metadata (lambdas/core/readiness/checks): `python -m
drsctl.readiness_docs` writes it, and a test fails when the committed page drifts from the checks."""

from __future__ import annotations

from pathlib import Path

from lambdas.core.readiness.checks import CHECKS

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGE = DOCS / "readiness.md"

INTRO = """\
# Readiness: is the plan still able to run?

Between drills nothing else tells a DR team that its plan has rotted: a server stopped replicating, a subnet was
deleted, the vCPU quota filled up, nobody drilled the plan since it changed. Readiness evaluates every stored plan
every 30 minutes and right after `drsctl plan load`, and keeps each plan's result: PASS (nothing found), WARN (it
would run, but look) or FAIL (a drill or a recovery would fail, or be refused). Each finding names its code, the
server or Region (and account), what was seen and the fix.

This page is generated from the checks themselves (`python -m drsctl.readiness_docs`; a test keeps it in sync):
one module per finding code under `lambdas/core/readiness/checks/`, each with its metadata beside it.

## Where it runs

- Every 30 minutes: EventBridge Scheduler invokes the `readiness` function (context `drs:readinessMinutes`, default
  30) with the scheduled time; it evaluates every stored plan, the longest unevaluated first, as many as its 15
  minutes allow (the rest first next time).
- After `drsctl plan load`: drsctl invokes the `readiness` function asynchronously with `{"PlanId": ..., "time":
  ...}` (the stack's output `ReadinessFunctionName`; `time` is the stack's time, the Date of its answers): the plan
  loaded is evaluated within seconds.
- `drsctl plan readiness PLAN_ID`: the stored result; `--now` runs the function for the plan and waits.
- `drsctl plan readiness PLAN_FILE --scenario S`: a plan file against the DRS emulator, no stack needed: the same
  checks, the same JSON (no history: never drilled); `--rehearse` rehearses the plan first and judges that makespan
  against its RTO.

Exit codes of `drsctl plan readiness`: 0 for PASS or WARN, 1 for FAIL, 2 for invalid input (a plan or scenario that
cannot be read, a plan never stored or never evaluated). `--json` prints the result (below). `drsctl plan list`
shows each plan's readiness and next scheduled drill; `drsctl run list` shows each execution's plan's readiness.

## The result

JSON (schema: [readiness.schema.json](readiness.schema.json)):

```
{"planId": "storefront", "planVersion": "d48e049589fa", "status": "FAIL", "evaluatedAt": "2026-01-01T00:00:00Z",
 "findings": [{"code": "LAUNCH_CONFIG_INVALID", "severity": "FAIL", "account": "111122223333",
               "region": "us-east-1", "sourceServerId": "s-...", "hostname": "db-1",
               "detail": "...names subnet subnet-..., which no longer exists", "fix": "edit the server's..."}]}
```

`account` is the account the server or Region is in: a plan's protection groups may sit in member accounts
([accounts.md](accounts.md)), which readiness reads through their member role, as a drill does (the member stack
grants it the same reads: DRS, EC2, `iam:GetInstanceProfile`, `servicequotas:GetServiceQuota`). A member role that
cannot be assumed is a FAIL finding on that account and Region naming the role and how to let the stack in; the
other accounts are evaluated as usual.

`status` is FAIL when any finding is FAIL, else WARN when any is WARN, else PASS. A check that cannot read what it
needs (access denied, a throttled API, a member account out of reach) gives one WARN finding under its own code saying
what could not be read and how to fix the access: readiness never says "nothing wrong" where it could not look.

Deployed, each plan's result is kept in the `PlanReadiness` table (one item per PlanId: `PlanVersion`, `Status`,
`EvaluatedAt` in epoch seconds, `FindingCount`, `Counts` per code and severity, the `Findings` that fit in 80 KB,
`PreviousStatus` and `StatusChangedAt`, and `Baseline`: how many servers each tag selector matched when that plan
version was first evaluated) and, whole, in the report bucket at `readiness/<PlanId>.json` (`drsctl plan readiness`
reads it when the item holds only part of the findings, as a 2,000-server estate may need). The seed's tables keep
their record shapes.

After each evaluation the function:

- puts the metric `ReadinessStatus` (0 PASS, 1 WARN, 2 FAIL) per `PlanId`, and `PlansFailingReadiness` (how many
  plans FAIL), in the namespace `DrsOrchestrator/<stack name>`; the stack's one `Readiness` alarm
  (`<stack name>-Readiness`, output `ReadinessAlarmName`) goes off while any plan FAILs and tells the stack's topic;
- puts an EventBridge event on the account's default bus when a plan's status changes: source `drs-orchestrator`,
  detail-type `Plan Readiness Status Change`, detail `{planId, planVersion, status, previousStatus, evaluatedAt,
  findingCount, failCount, warnCount, codes}`;
- publishes to the stack's topic when a plan turns FAIL: its failing findings (the first 20) with their fixes.

The work is bounded whatever the plan's size: one DescribeSourceServers listing and one DescribeLaunchTemplateVersions
listing ($Default) per account and Region, one GetLaunchConfiguration per server on 8 threads (DRS has no batch
form), EC2 describes batched 100 IDs a call by filter, one GetInstanceProfile per distinct profile, one GetServiceQuota
and one DescribeInstances listing per account and Region, at most 50 DescribeRecoverySnapshots per evaluation.

## Scheduled drills

A plan may drill on its own: `Schedule: {Expression: "rate(30 days)" | "cron(0 6 ? * MON#1 *)", Timezone?, Enabled?}`
([plan-format.md](plan-format.md#scheduled-drills)). `drsctl plan load` creates, updates or deletes its EventBridge
Scheduler schedule (`drill-<PlanId>` in the stack's group, output `DrillScheduleGroupName`), which starts the state
machine with the stack's `DrillScheduleRoleArn` (it may only start the state machine). It starts a DRILL (a RECOVERY
is never scheduled) with the plan's DrillCleanup, else `AfterMinutes: 60`. A drill that cannot start (another
execution of the plan runs, its cleanup included, or the plan's readiness is FAIL) is refused by Prepare before
anything launches: its record ends FAILED with `ScheduledDrillRefusedError` and the reason (`drsctl run list`,
`drsctl run show NAME`), and the stack's topic hears of it; it launched nothing, so it has no report in the bucket (the
plan's reports are its drills). `drsctl plan schedule PLAN_ID --enable|--disable` turns the schedule on or off.

## Every execution's report in S3

When an execution ends (scheduled or not), the `publish_report` function writes its report, the JSON and the HTML
page `drsctl run report` builds, to the stack's report bucket (output `ReportBucketName`: encrypted, versioned,
public access blocked, TLS only, objects kept 400 days) at `reports/<PlanId>/<ExecutionName>.json` and `.html`;
`drsctl run report NAME` reads them from there (a scheduled drill refused before it started has none: its record
says why). A drill's recovery time is the metric `DrillMakespanSeconds` per
`PlanId`, and a drill that missed its plan's RTO raises the `DrillMissedRto` alarm.

## The findings
"""


def render() -> str:
    lines = [INTRO]
    lines.append("| code | severity | finds |")
    lines.append("|---|---|---|")
    for check in CHECKS:
        lines.append(f"| [`{check.code}`](#{check.code.lower()}) | {check.severity} | {check.title} |")
    for check in CHECKS:
        lines += ["", f"### {check.code}", "", f"{check.title}. Severity: {check.severity}.", "", "Reads:", ""]
        lines += [f"- {read}" for read in check.reads]
        lines += ["", f"What to do: {check.remediation}", "", f"See: {check.link}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    PAGE.write_text(render())
    print(f"wrote {PAGE.relative_to(DOCS.parent)}")


if __name__ == "__main__":
    main()
