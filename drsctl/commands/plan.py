"""`drsctl plan validate`: the checks Prepare makes before a launch, run from a laptop or a CI job."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated
from unittest.mock import patch

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from drsctl.clock import VirtualClock
from drsctl.commands.common import EXIT_INVALID_INPUT, fail_invalid, read_scenario
from drsctl.commands.rehearse import Mode, read_plan
from drsctl.emulator import DrsEmulator, serving
from lambdas.core import limits
from lambdas.core.errors import PlanValidationError
from lambdas.core.plan import ExecutionMode, RunOptions
from lambdas.core.prepare import resolve_waves
from lambdas.core.records import save_plan

plan_app = typer.Typer(help="Work with plan files.", no_args_is_help=True)
EXIT_CANNOT_CHECK = 1


@contextmanager
def _drs_from(scenario: Path | None) -> Iterator[str]:
    """Point the DRS client at an emulator serving `scenario`, or leave it on AWS when there is none."""
    if scenario is None:
        yield "AWS (your default credentials and region configuration)"
        return
    emulator = DrsEmulator(read_scenario(scenario), VirtualClock())
    with serving(emulator) as running:
        fake = {
            "AWS_ENDPOINT_URL_DRS": running.endpoint,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "validate"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "validate"),
        }
        with patch.dict(os.environ, fake):
            yield f"the emulator with {scenario}"


@plan_app.command()
def validate(
    plan: Annotated[Path, typer.Argument(help="Plan file (YAML or JSON).")],
    scenario: Annotated[
        Path | None, typer.Option(help="Check against the DRS emulator with this scenario instead of AWS.")
    ] = None,
    mode: Annotated[Mode, typer.Option(help="Check as for a DRILL or a RECOVERY (replication rules differ).")] = (
        Mode.drill
    ),
) -> None:
    """Check a plan: its schema offline, then its servers in DRS (exist, replicate, not busy) and the quotas.

    Exit code 0 when the plan can run, 2 when it cannot (each problem is listed), 1 when DRS could not be asked.
    """
    console = Console()
    parsed = read_plan(plan)
    console.print(f"{plan}: schema valid ({len(parsed.Waves)} waves)", highlight=False)
    with _drs_from(scenario) as where:
        execution_type: ExecutionMode = "DRILL" if mode is Mode.drill else "RECOVERY"
        try:
            options = RunOptions.resolve(execution_type, parsed.Options)
        except PlanValidationError as error:
            raise fail_invalid(str(error)) from error
        try:
            resolution = resolve_waves(parsed, options, execution_type, int(time.time()))
            resolution.problems.extend(limits.problems(parsed, resolution.waves, options))
        except (BotoCoreError, ClientError) as error:
            console.print(f"[red]could not check the servers in DRS ({where}):[/] {error}", highlight=False)
            raise typer.Exit(EXIT_CANNOT_CHECK) from error
    for warning in resolution.warnings:
        console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    if resolution.problems:
        console.print(f"[bold red]{len(resolution.problems)} problem(s)[/] found against {where}:", highlight=False)
        for problem in resolution.problems:
            console.print(f"- {problem}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_INVALID_INPUT)
    table = Table(title=f"Plan {parsed.PlanId}: every server checked against {where}")
    for column in ("wave", "region", "servers", "impact"):
        table.add_column(column)
    for wave in resolution.waves:
        table.add_row(wave.WaveName, wave.Region, str(len(wave.Servers)), wave.Impact)
    console.print(table)
    console.print("[green]the plan can run[/]")


@plan_app.command()
def load(
    plan: Annotated[Path, typer.Argument(help="Plan file (YAML or JSON).")],
    protection_groups_table: Annotated[
        str, typer.Option(envvar="PROTECTION_GROUPS_TABLE", help="The ProtectionGroupsTable output of the stack.")
    ],
    recovery_plans_table: Annotated[
        str, typer.Option(envvar="RECOVERY_PLANS_TABLE", help="The RecoveryPlansTable output of the stack.")
    ],
) -> None:
    """Store a plan in the deployed tables (groups in ProtectionGroups, the rest in RecoveryPlans)."""
    parsed = read_plan(plan)
    tables = {"PROTECTION_GROUPS_TABLE": protection_groups_table, "RECOVERY_PLANS_TABLE": recovery_plans_table}
    with patch.dict(os.environ, tables):
        save_plan(parsed)
    Console().print(
        f"plan {parsed.PlanId} stored: {len(parsed.ProtectionGroups)} protection group(s), {len(parsed.Waves)} wave(s)",
        highlight=False,
    )
