"""`make report` (its second half): what a drill's report looks like, next to the rehearsal's example in docs/.

Two drills of examples/plan-with-approval.yaml (a change board before the application tier, RTO and RPO targets, a
drill cleanup 10 minutes after the drill) run on the local stack: the deployed definition and Lambdas against the
example estate, on a virtual clock, started as `drsctl run start` starts it (drsctl/operate/executions.py: the
operator's identity recorded), the change board answering 6 minutes after it is asked through the stack's answer
function, as `drsctl run approve` answers on AWS (the scenario's approvals, drsctl/local/hooks.py). It approves the
first and rejects the second. Each report is then built from the stack's records the way
`drsctl run report` builds it from a stack on AWS (drsctl/report/deployed.py), and written to docs/ as JSON, page
and screenshot: docs/report-drill.* and docs/report-rejected.*. No AWS account is involved: the pages show what a
deployed drill's report looks like; their times and identities are the local stack's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import yaml

from drsctl.clock import VirtualClock
from drsctl.emulator.scenario import Scenario
from drsctl.local.rehearsal import STOPPED, LocalAws, local_aws
from drsctl.local.tables import EXECUTION_HISTORY, EXECUTION_WAVES, TABLE_NAMES
from drsctl.operate import executions
from drsctl.operate.stack import DeployedStack
from drsctl.report import audit, browser, html
from drsctl.report.deployed import Sources, build_report
from lambdas.core import accounts
from lambdas.core import drs as drs_calls
from lambdas.core.plan import parse_plan

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
START = 1_773_478_800.0  # 2026-03-14T09:00:00Z: a readable start for the pages
BOARD_SECONDS = 360  # how long the change board takes to answer
OPTIONS = {"RtoTargetMinutes": 45, "RpoTargetMinutes": 15, "DrillCleanup": {"AfterMinutes": 10}}
OPERATOR = "arn:aws:sts::123456789012:assumed-role/DrOperator/alice"  # as `run start` finds it (sts), recorded
APPROVER = "arn:aws:iam::123456789012:user/change-board-chair"
HANG_SECONDS = 300  # bounds a hang only (real seconds)

# name -> (approve?, the change board's reason)
DRILLS: dict[str, tuple[bool, str]] = {
    "drill": (True, "CAB-4711: the replicas were verified by the DBA on call"),
    "rejected": (False, "CAB-4712: the DBA on call has not verified the replicas yet"),
}


def _plan() -> Any:
    plan = yaml.safe_load((EXAMPLES / "plan-with-approval.yaml").read_text())
    plan["Options"] = {**plan.get("Options", {}), **OPTIONS}
    return parse_plan(plan, "examples/plan-with-approval.yaml")


def run_drill(name: str, approve: bool, reason: str) -> dict[str, Any]:
    """One drill on the local stack, operated as an operator does; its report as `drsctl run report` builds it."""
    plan = _plan()
    scenario = _scenario(approve, reason)
    with local_aws(scenario, clock=VirtualClock(START)) as aws:
        stack = DeployedStack("DrsOrchestrator", aws.state_machine_arn, dict(TABLE_NAMES))
        aws.load_plan(plan)
        execution = f"storefront-gated-{name}"
        started = executions.start(
            stack, plan.PlanId, "DRILL", execution, confirm=None, resume_from=None, started_by=OPERATOR
        )
        _ended(aws, started["ExecutionArn"])
        report = build_report(execution, _sources())
        # Generated as `drsctl run report` right after the drill would be: at the stack's time (the local stack's
        # clock is the virtual one, which the in-process answers' Date does not carry), not this machine's today.
        return {**report, **audit.generated(aws.clock.now())}


def _scenario(approve: bool, reason: str) -> Scenario:
    """The example estate, its change board answering BOARD_SECONDS after it is asked, through the stack's answer
    function as `drsctl run approve` answers on AWS (drsctl/local/hooks.py), as APPROVER, with its reason."""
    estate = yaml.safe_load((EXAMPLES / "scenario.yaml").read_text())
    board = {"wave": "application", "decision": "APPROVE" if approve else "REJECT", "afterSeconds": BOARD_SECONDS}
    return Scenario.model_validate({**estate, "approvals": [{**board, "by": [APPROVER], "reason": reason}]})


def _ended(aws: LocalAws, arn: str) -> dict[str, Any]:
    described = aws.wait(arn, timeout_seconds=HANG_SECONDS)
    if described["status"] in STOPPED:
        aws.deliver_status_change(described)  # as the stack's EventBridge rule does
    return described


def _sources() -> Sources:
    return Sources(
        dynamodb=boto3.client("dynamodb"),
        stepfunctions=boto3.client("stepfunctions"),
        drs=lambda target: accounts.client("drs", target, drs_calls.READ_CONFIG),
        history_table=EXECUTION_HISTORY,
        waves_table=EXECUTION_WAVES,
    )


def write(name: str, report: dict[str, Any], folder: Path = DOCS) -> dict[str, Any]:
    """docs/report-<name>.json, .html and .png (the screenshot carries what the page showed, as the example's)."""
    (folder / f"report-{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    page = folder / f"report-{name}.html"
    page.write_text(html.render(report))
    with browser.browser() as running, browser.open_report(running, page) as loaded:
        return browser.screenshot_with_content(loaded, folder / f"report-{name}.png")


def main() -> None:
    for name, (approve, reason) in DRILLS.items():
        write(name, run_drill(name, approve, reason))
        for suffix in ("json", "html", "png"):
            print(f"wrote docs/report-{name}.{suffix}")


if __name__ == "__main__":
    main()
