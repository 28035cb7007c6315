"""`drsctl plan list`, `plan show PLAN_ID` and `plan diff FILE`: the plans stored in the deployed stack (or the
sandbox). Registered on `drsctl plan` by plan.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from drsctl.commands.common import console
from drsctl.commands.inputs import read_plan
from drsctl.commands.operating import JSON_OPTION, STACK_OPTION, check_plan_id, find, operating, print_json

EXIT_DIFFERENT = 1


def list_plans(
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """List the plans stored in the deployed stack, with each plan's version (planVersion), its readiness (PASS,
    WARN or FAIL, as last evaluated) and its next scheduled drill."""
    from rich.table import Table

    from drsctl.operate import plans, readiness, schedules
    from lambdas.core.drill_schedule import schedule_name

    deployed = find(stack, "list plans")
    with operating("list plans"):
        found = plans.list_plans(deployed)
        statuses = readiness.statuses(deployed)
        planned = schedules.schedules(deployed)
    for plan in found:
        plan["readiness"] = statuses.get(str(plan["PlanId"]))
        drill = planned.get(schedule_name(str(plan["PlanId"])))
        plan["schedule"] = drill.to_json() if drill is not None else None
    if json_output:
        print_json(found)
        return
    if not found:
        console().print("no plans stored: drsctl plan load FILE stores one")
        return
    table = Table()
    table.add_column("plan", no_wrap=True)
    table.add_column("name", overflow="fold", ratio=1)
    table.add_column("waves", justify="right", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("readiness", no_wrap=True)
    table.add_column("next drill (UTC)", overflow="fold")
    for plan in found:
        table.add_row(
            str(plan["PlanId"]),
            str(plan.get("Name") or ""),
            str(plan["Waves"]),
            plan["planVersion"] or "-",
            readiness_text(plan.get("readiness")),
            _next_drill(plan.get("schedule")),
        )
    console().print(table)


def readiness_text(readiness: dict[str, Any] | None) -> Text:
    """PASS, WARN or FAIL in its colour; `-` for a plan never evaluated."""
    from drsctl.commands.readiness import STATUS_STYLE

    if not readiness:
        return Text("-")
    status = str(readiness.get("status"))
    return Text(status, style=STATUS_STYLE.get(status, ""))


def _next_drill(drill: dict[str, Any] | None) -> str:
    if not drill:
        return "-"
    if drill.get("state") != "ENABLED":
        return "disabled"
    when = drill.get("nextDrill")
    return str(when).replace("T", " ").removesuffix("Z") if when else "-"


def show(
    plan_id: Annotated[str, typer.Argument(help="The stored plan's PlanId.", metavar="PLAN_ID")],
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Show a stored plan as a plan file (YAML; drsctl plan load reads it back): the waves' defaults filled in, its
    version (planVersion) and the Options in effect, every default included, in comments above it. --json: the plan
    with `planVersion` and `optionsInEffect` (per mode) added."""

    from drsctl.operate import plans

    check_plan_id(plan_id, "PLAN_ID")
    deployed = find(stack, "show the plan")
    with operating(f"show plan {plan_id}"):
        plan = plans.show_plan(deployed, plan_id)
    version = plans.version_of(plan)
    in_effect = plans.options_in_effect(plan)
    if json_output:
        print_json({**plan, "planVersion": version, "optionsInEffect": in_effect})
        return
    typer.echo(f"# plan {plan_id}, version {version} (planVersion)")
    typer.echo("# Options in effect, the plan's own and every default (DRILL; a RECOVERY differs where shown):")
    for key, value in in_effect["DRILL"].items():
        recovery = in_effect["RECOVERY"].get(key)
        differs = f" (RECOVERY: {_plain(recovery)})" if recovery != value else ""
        typer.echo(f"#   {key}: {_plain(value)}{differs}")
    typer.echo(plans.as_yaml(plan), nl=False)


def _plain(value: object) -> str:
    """A value as one line of YAML flow style (`{AfterMinutes: 60, OnFailure: TERMINATE}`, `9.0`)."""
    import yaml

    text: str = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("...").strip()


def diff(
    plan: Annotated[Path, typer.Argument(help="Plan file (YAML, or JSON if it ends in .json).")],
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Compare a plan file with the stored plan of the same PlanId (both as the plan model reads them, keys in the
    plan file's order). Exit code 0 when they are the same plan version, 1 when they differ (the unified diff,
    stored first), 2 when the plan is not stored or the file is invalid."""
    from drsctl.operate import plans

    parsed = read_plan(plan)
    deployed = find(stack, "compare the plan")
    with operating(f"compare {plan} with the stored plan"):
        lines = plans.diff(deployed, parsed, str(plan))
    if json_output:
        from drsctl.operate.plans import version_of

        print_json({"PlanId": parsed.PlanId, "Same": not lines, "Diff": lines, "planVersion": version_of(parsed)})
    elif lines:
        for line in lines:
            typer.echo(line)
    else:
        console().print(f"{plan} is the stored plan {parsed.PlanId}")
    if lines:
        raise typer.Exit(EXIT_DIFFERENT)
