"""`drsctl plan readiness` and `drsctl plan schedule`: is a plan still able to run, and when does it drill next.

`plan readiness PLAN_ID` shows the readiness the stack keeps (`--now`: evaluated now by the stack's function);
`plan readiness PLAN_FILE --scenario S` evaluates a plan file against the DRS emulator. Exit code 0 for PASS or
WARN, 1 for FAIL, 2 for invalid input. Registered on `drsctl plan` by plan.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from drsctl.commands.common import console, fail_invalid
from drsctl.commands.operating import JSON_OPTION, STACK_OPTION, check_plan_id, find, operating, print_json

EXIT_FAIL = 1
STATUS_STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red"}
PLAN_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def readiness(  # noqa: PLR0917 - typer reads a command's options from its parameters
    plan: Annotated[
        str,
        typer.Argument(
            metavar="PLAN_ID|PLAN_FILE",
            help="A stored plan's PlanId; or, with --scenario, a plan file (YAML, or JSON if it ends in .json).",
        ),
    ],
    scenario: Annotated[
        Path | None, typer.Option(help="Evaluate the plan file against the DRS emulator with this scenario.")
    ] = None,
    now: Annotated[
        bool, typer.Option("--now", help="Evaluate the stored plan now (the stack's readiness function), then show it.")
    ] = False,
    rehearse: Annotated[
        bool,
        typer.Option(
            "--rehearse",
            help="With --scenario: rehearse the plan first and judge its makespan against Options.RtoTargetMinutes.",
        ),
    ] = False,
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """A plan's readiness: each finding (docs/readiness.md) with the server or Region, what was seen and the fix.

    Exit code 0 for PASS or WARN, 1 for FAIL, 2 for invalid input (a plan or scenario that cannot be read, a plan
    never stored or never evaluated).
    """
    if scenario is not None:
        if now:
            raise fail_invalid("--now evaluates a stored plan: drop it to evaluate the plan file against --scenario")
        result = _from_file(Path(plan), scenario, rehearse=rehearse)
    else:
        if rehearse:
            raise fail_invalid("--rehearse needs --scenario: it rehearses a plan file against the emulated estate")
        if Path(plan).suffix.lower() in PLAN_FILE_SUFFIXES or Path(plan).is_file():
            raise fail_invalid(
                f"{plan} is a plan file: give --scenario FILE to evaluate it against the DRS emulator, or the PlanId "
                "of a stored plan to see the stack's readiness"
            )
        result = _stored(check_plan_id(plan, "PLAN_ID"), stack, now=now)
    if json_output:
        print_json(result)
    else:
        show(result)
    if result["status"] == "FAIL":
        raise typer.Exit(EXIT_FAIL)


def _from_file(path: Path, scenario_path: Path, *, rehearse: bool) -> dict[str, Any]:
    from drsctl.commands.inputs import read_plan, read_scenario
    from drsctl.local.readiness import evaluate_plan_file

    parsed = read_plan(path)
    loaded = read_scenario(scenario_path)
    result: dict[str, Any] = evaluate_plan_file(parsed, loaded, rehearse=rehearse).model_dump(mode="json")
    return result


def _stored(plan_id: str, stack_name: str | None, *, now: bool) -> dict[str, Any]:
    from drsctl.operate import readiness as deployed

    stack = find(stack_name, f"show the readiness of plan {plan_id}")
    with operating(f"show the readiness of plan {plan_id}"):
        if now:
            deployed.evaluate_now(stack, plan_id)
        found = deployed.stored(stack, plan_id)
    if found is None:
        raise fail_invalid(
            f"plan {plan_id} has no readiness yet: it is evaluated after drsctl plan load and every 30 minutes; "
            f"evaluate it now with drsctl plan readiness {plan_id} --now"
        )
    return found


def show(result: dict[str, Any]) -> None:
    out = console()
    status = str(result["status"])
    findings = result.get("findings") or []
    out.print(
        Text.assemble(
            f"plan {result['planId']} (version {result['planVersion']}): readiness ",
            Text(status, style=STATUS_STYLE.get(status, "")),
            f", evaluated {result['evaluatedAt']}",
            f", {len(findings)} finding(s)" if findings else ", nothing found",
        ),
        soft_wrap=True,
    )
    for finding in findings:
        where = _where(finding)
        out.print(
            Text.assemble(
                Text(f"{finding['severity']:<4}", style=STATUS_STYLE.get(finding["severity"], "")),
                f" {finding['code']}",
                f"  {where}" if where else "",
            ),
            soft_wrap=True,
        )
        out.print(f"     {finding['detail']}", soft_wrap=True)
        out.print(f"     fix: {finding['fix']}", soft_wrap=True)


def _where(finding: dict[str, Any]) -> str:
    server = finding.get("sourceServerId")
    parts = [
        f"{server} ({finding['hostname']})" if server and finding.get("hostname") else server,
        finding.get("region"),
        f"account {finding['account']}" if finding.get("account") else None,
    ]
    return ", ".join(str(part) for part in parts if part)


def schedule(
    plan_id: Annotated[str, typer.Argument(help="The stored plan's PlanId.", metavar="PLAN_ID")],
    enable: Annotated[bool, typer.Option("--enable", help="Turn the plan's drill schedule on.")] = False,
    disable: Annotated[bool, typer.Option("--disable", help="Turn it off (it stays, and starts nothing).")] = False,
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Turn a plan's drill schedule on or off (its Schedule, created by drsctl plan load); shows the next drill.

    A disabled schedule stays off until --enable, or until the plan is loaded with Schedule.Enabled: true. Exit
    code 0 when done, 2 for invalid input (neither or both options, a plan without a schedule).
    """
    from drsctl.operate import schedules

    check_plan_id(plan_id, "PLAN_ID")
    if enable == disable:
        raise fail_invalid("give exactly one of --enable or --disable")
    deployed = find(stack, f"change the drill schedule of plan {plan_id}")
    with operating(f"change the drill schedule of plan {plan_id}"):
        change = schedules.set_enabled(deployed, plan_id, enable)
    if json_output:
        print_json({"PlanId": plan_id, **change.to_json()})
        return
    next_drill = change.to_json()["nextDrill"]
    console().print(
        f"plan {plan_id}: drill schedule {change.name} {change.state}"
        + (f", next drill {next_drill}" if next_drill else ""),
        soft_wrap=True,
    )
