"""`drsctl plan list`, `plan show PLAN_ID` and `plan diff FILE`: the plans stored in the deployed stack (or the
sandbox). Registered on `drsctl plan` by plan.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from drsctl.commands.common import console
from drsctl.commands.inputs import read_plan
from drsctl.commands.operating import JSON_OPTION, STACK_OPTION, check_plan_id, find, operating, print_json

EXIT_DIFFERENT = 1


def list_plans(
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """List the plans stored in the deployed stack."""
    from rich.table import Table

    from drsctl.operate import plans

    deployed = find(stack, "list plans")
    with operating("list plans"):
        found = plans.list_plans(deployed)
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
    for plan in found:
        table.add_row(str(plan["PlanId"]), str(plan.get("Name") or ""), str(plan["Waves"]))
    console().print(table)


def show(
    plan_id: Annotated[str, typer.Argument(help="The stored plan's PlanId.", metavar="PLAN_ID")],
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Show a stored plan (YAML, as a plan file; --json for JSON)."""
    import yaml

    from drsctl.operate import plans

    check_plan_id(plan_id, "PLAN_ID")
    deployed = find(stack, "show the plan")
    with operating(f"show plan {plan_id}"):
        plan = plans.show_plan(deployed, plan_id)
    if json_output:
        print_json(plan)
        return
    typer.echo(yaml.safe_dump(plan, sort_keys=False, allow_unicode=True, width=1000), nl=False)


def diff(
    plan: Annotated[Path, typer.Argument(help="Plan file (YAML, or JSON if it ends in .json).")],
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Compare a plan file with the stored plan of the same PlanId. Exit code 0 when they are the same, 1 when they
    differ (the unified diff, stored first), 2 when the plan is not stored or the file is invalid."""
    from drsctl.operate import plans

    parsed = read_plan(plan)
    deployed = find(stack, "compare the plan")
    with operating(f"compare {plan} with the stored plan"):
        lines = plans.diff(deployed, parsed, str(plan))
    if json_output:
        print_json({"PlanId": parsed.PlanId, "Same": not lines, "Diff": lines})
    elif lines:
        for line in lines:
            typer.echo(line)
    else:
        console().print(f"{plan} is the stored plan {parsed.PlanId}")
    if lines:
        raise typer.Exit(EXIT_DIFFERENT)
