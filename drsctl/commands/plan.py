"""`drsctl plan validate` and `drsctl plan load`: the checks Prepare makes before a launch, from a laptop or a CI
job, and storing a plan in the deployed tables. The SDK and the emulator are imported when a command runs."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from unittest.mock import patch

import typer
from rich.table import Table
from rich.text import Text

from drsctl.commands.aws_setup import drs_endpoint, setup_problem
from drsctl.commands.common import EXIT_INVALID_INPUT, console, fail_invalid
from drsctl.commands.inputs import read_plan, read_scenario
from drsctl.commands.operating import JSON_OPTION, STACK_OPTION, find, operating, print_json, region_name
from drsctl.commands.plan_store import diff, list_plans, show
from drsctl.commands.readiness import readiness, schedule
from drsctl.commands.rehearse import MODE_OPTION, Mode

if TYPE_CHECKING:
    from rich.console import Console

    from drsctl.emulator.scenario import Scenario
    from drsctl.operate.stack import DeployedStack
    from lambdas.core.plan_types import ExecutionMode
    from lambdas.core.prepare import Resolution

plan_app = typer.Typer(help="Work with plan files and the plans stored in the deployed stack.", no_args_is_help=True)
plan_app.command("list")(list_plans)
plan_app.command("show")(show)
plan_app.command("diff")(diff)
plan_app.command("readiness")(readiness)
plan_app.command("schedule")(schedule)
EXIT_CANNOT_CHECK = 1


@contextmanager
def _drs_from(scenario: Path | None, loaded: Scenario | None) -> Iterator[str]:
    """Point the DRS client at an emulator serving `loaded`, or leave it where the environment points it.

    Against the emulator, member accounts are reached as in a rehearsal: STS is moto's (AssumeRole refused where the
    scenario says), and the emulator answers each call in the account of its credentials."""
    if scenario is None or loaded is None:
        endpoint = drs_endpoint()
        with patch.dict(os.environ, _own_account()):
            yield (
                f"the DRS endpoint {endpoint}"
                if endpoint
                else "AWS (your default credentials and region configuration)"
            )
        return
    from moto import mock_aws

    from drsctl.clock import VirtualClock
    from drsctl.emulator import DrsEmulator, serving
    from drsctl.local.engine import EngineStats, account_of_access_key, member_roles
    from lambdas.core import accounts

    emulator = DrsEmulator(loaded, VirtualClock())
    emulator.resolve_caller = account_of_access_key
    with serving(emulator) as running, ExitStack() as stack:
        fake = {
            "AWS_ENDPOINT_URL_DRS": running.endpoint,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "validate"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "validate"),
            "AWS_REGION": loaded.region,
            accounts.ORCHESTRATOR_ACCOUNT: loaded.accountId,
        }
        stack.enter_context(patch.dict(os.environ, fake))
        stack.enter_context(mock_aws())
        stack.enter_context(member_roles(EngineStats(assumable=loaded.assumable)))
        accounts.reset()
        stack.callback(accounts.reset)
        yield f"the emulator with {scenario}"


def _own_account() -> dict[str, str]:
    """The account the stack would run in, for groups that name none: the caller's (sts:GetCallerIdentity, which
    needs no permission). A DRS endpoint without STS beside it (an emulator) answers every call in one account, so
    there it is just "your account"; member accounts are then reported as unreachable by the pre-flight."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lambdas.core import accounts

    if os.environ.get(accounts.ORCHESTRATOR_ACCOUNT):
        return {}
    try:
        return {accounts.ORCHESTRATOR_ACCOUNT: accounts.home_account()}
    except (BotoCoreError, ClientError):
        return {accounts.ORCHESTRATOR_ACCOUNT: YOUR_ACCOUNT}


YOUR_ACCOUNT = "your-account"


@plan_app.command()
def validate(
    plan: Annotated[Path, typer.Argument(help="Plan file (YAML, or JSON if it ends in .json).")],
    scenario: Annotated[
        Path | None, typer.Option(help="Check against the DRS emulator with this scenario instead of AWS.")
    ] = None,
    mode: Annotated[Mode, MODE_OPTION] = Mode.drill,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Check a plan: its schema and options offline, then its servers in DRS (exist, replicate, not busy) and the
    quotas. DRS is AWS, or the endpoint in AWS_ENDPOINT_URL_DRS, or the emulator with --scenario.

    Exit code 0 when the plan can run, 2 when it cannot (each problem is listed), when DRS refuses the check (not
    initialized, access denied, a Region it is not in) or when no AWS region or credentials are configured, 1 when
    DRS could not be asked.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from lambdas.core import limits
    from lambdas.core.errors import DrsRefusedError, PlanValidationError
    from lambdas.core.plan import RunOptions
    from lambdas.core.plan_version import plan_version
    from lambdas.core.prepare import listed_servers_per_target, replication_quota_lines, resolve_waves

    out = console()
    parsed = read_plan(plan)
    execution_type: ExecutionMode = "DRILL" if mode is Mode.drill else "RECOVERY"
    try:
        options = RunOptions.resolve(execution_type, parsed.Options)
    except PlanValidationError as error:
        raise fail_invalid("\n".join(f"{plan}: {problem}" for problem in error.problems)) from error
    loaded = read_scenario(scenario) if scenario is not None else None
    if not json_output:
        out.print(f"{plan}: schema valid ({len(parsed.Waves)} waves, version {plan_version(parsed)})")
    from drsctl.operate.stack import clients_from, stack_session

    with _drs_from(scenario, loaded) as where, clients_from(stack_session(None)):
        # said before DRS is asked: a plan too large for its accounts is told so even when DRS cannot be reached
        too_large = replication_quota_lines(parsed.PlanId, listed_servers_per_target(parsed))
        if not json_output:
            for warning in too_large:
                out.print(f"warning: {warning}", soft_wrap=True)
        try:
            resolution = resolve_waves(parsed, options, execution_type, int(time.time()))
            resolution.problems.extend(limits.problems(parsed, resolution.waves, options))
        except (BotoCoreError, ClientError) as error:
            fix = setup_problem(error)
            if fix is not None:
                raise fail_invalid(
                    f"cannot check the servers in DRS ({where}): {fix}; or check against the emulator with --scenario"
                ) from error
            console(stderr=True).print(
                Text.assemble(Text("could not check the servers in DRS", style="red"), f" ({where}): {error}"),
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_CANNOT_CHECK) from error
        except DrsRefusedError as refused:  # DRS answered, and refused for a reason the operator fixes (its message)
            raise fail_invalid(f"cannot check the servers in DRS ({where}): {refused}") from refused
    if json_output:
        print_json(
            {
                "PlanId": parsed.PlanId,
                "planVersion": plan_version(parsed),
                "Mode": execution_type,
                "CheckedAgainst": where,
                "CanRun": not resolution.problems,
                "Problems": resolution.problems,
                "Warnings": list(dict.fromkeys([*too_large, *resolution.warnings])),
                "Waves": [
                    {
                        "WaveNumber": wave.WaveNumber,
                        "WaveName": wave.WaveName,
                        "Region": wave.Region,
                        "Accounts": sorted({t.account for t in wave.targets()}),
                        "Servers": len(wave.Servers),
                        "Impact": wave.Impact,
                    }
                    for wave in resolution.waves
                ],
            }
        )
        if resolution.problems:
            raise typer.Exit(EXIT_INVALID_INPUT)
        return
    resolution.warnings = [warning for warning in resolution.warnings if warning not in too_large]  # said above
    _print_validation(out, parsed.PlanId, resolution, where)


def _print_validation(out: Console, plan_id: str, resolution: Resolution, where: str) -> None:
    """plan validate's answer for people: warnings, then the problems (exit 2), or a row per wave, account and
    Region."""
    for warning in resolution.warnings:
        out.print(f"warning: {warning}", soft_wrap=True)
    if resolution.problems:
        out.print(
            Text.assemble(Text(f"{len(resolution.problems)} problem(s)", style="bold red"), f" found against {where}:")
        )
        for problem in resolution.problems:
            out.print(f"- {problem}", soft_wrap=True)
        raise typer.Exit(EXIT_INVALID_INPUT)
    out.print(f"Plan {plan_id}: every server checked against {where}")
    table = Table()
    table.add_column("wave", overflow="fold", ratio=1)
    table.add_column("account", no_wrap=True)
    table.add_column("region", no_wrap=True)
    table.add_column("servers", no_wrap=True, justify="right")
    table.add_column("impact", no_wrap=True)
    for wave in resolution.waves:
        for number, (target, servers) in enumerate(wave.targets().items()):  # a row per account and Region
            name, impact = (wave.WaveName, wave.Impact) if number == 0 else ("", "")
            table.add_row(name, target.account, target.region, str(len(servers)), impact)
    out.print(table)
    out.print(Text("the plan can run", style="green"))


@plan_app.command()
def load(  # noqa: PLR0917 - typer reads a command's options from its parameters
    plan: Annotated[Path, typer.Argument(help="Plan file (YAML, or JSON if it ends in .json).")],
    protection_groups_table: Annotated[
        str | None,
        typer.Option(
            envvar="PROTECTION_GROUPS_TABLE", help="The ProtectionGroupsTable output; default: read from --stack."
        ),
    ] = None,
    recovery_plans_table: Annotated[
        str | None,
        typer.Option(envvar="RECOVERY_PLANS_TABLE", help="The RecoveryPlansTable output; default: read from --stack."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Store a changed plan even while an execution of it runs (that execution keeps the plan it read at "
            "its start; the next one runs this).",
        ),
    ] = False,
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Store a plan in the deployed tables (groups in ProtectionGroups, the rest in RecoveryPlans), showing the
    diff against the stored plan and the plan's version (planVersion) before and after.

    A changed plan is refused (exit code 2, naming the execution) while an execution of it runs, unless --force.
    The tables are the stack's outputs (--stack, default DrsOrchestrator), used in the state machine's Region, or
    the two options, used in the Region of DRSCTL_STATE_MACHINE_ARN if set, else the shell's (AWS_DEFAULT_REGION or
    AWS_REGION); credentials as for the AWS CLI.
    Exit code 0 when stored, 2 for an invalid plan, a running execution, a missing region, credentials, stack or
    table, 1 when DynamoDB failed.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from drsctl.operate import plans
    from drsctl.operate.stack import clients_from, named_region, stack_session
    from lambdas.core.records import save_plan

    parsed = read_plan(plan)
    deployed = None
    region = named_region()  # given both tables: the state machine's Region if named, else the shell's
    if protection_groups_table is None or recovery_plans_table is None:
        deployed = find(stack, "store the plan")
        protection_groups_table = protection_groups_table or deployed.tables["PROTECTION_GROUPS_TABLE"]
        recovery_plans_table = recovery_plans_table or deployed.tables["RECOVERY_PLANS_TABLE"]
        region = deployed.region
    tables = {"PROTECTION_GROUPS_TABLE": protection_groups_table, "RECOVERY_PLANS_TABLE": recovery_plans_table}
    try:
        with patch.dict(os.environ, tables), clients_from(stack_session(region)):
            loading = plans.before_load(parsed, str(plan))
    except (BotoCoreError, ClientError) as error:
        _refuse_load(error, tables)
    out = console()
    if not json_output:
        _print_loading(loading)
    if loading.changed and loading.previous_version is not None:
        if deployed is None:
            deployed = _stack_for_the_check(stack, parsed.PlanId, force=force)
        if deployed is not None:
            with operating(f"check the running executions of plan {parsed.PlanId}"):
                from drsctl.operate.conflicts import running_executions

                loading.running = running_executions(deployed, parsed.PlanId)
    if loading.running and not force:
        first = loading.running[0]
        raise fail_invalid(
            f"cannot store plan {parsed.PlanId} (version {loading.previous_version} -> {loading.version}): "
            f"{first.describe()} is running the stored plan; wait for it to end or cancel it "
            f"(drsctl run cancel {first.name} --reason ...), or pass --force to store it for the next execution"
        )
    try:
        with patch.dict(os.environ, tables), clients_from(stack_session(region)):
            save_plan(parsed)
    except (BotoCoreError, ClientError) as error:
        _refuse_load(error, tables)
    if deployed is None and parsed.Schedule is not None:  # given only the tables: the schedule still needs the stack
        deployed = _stack_for_the_schedule(stack, parsed)
    change, requested = _after_storing(deployed, parsed)
    if json_output:
        print_json(
            {
                **loading.to_json(),
                "Stored": True,
                "schedule": change.to_json() if change is not None else None,
                "readiness": "requested" if requested is None else f"not requested: {requested}",
            }
        )
        return
    out.print(
        f"plan {parsed.PlanId} stored: {len(parsed.ProtectionGroups)} protection group(s), {len(parsed.Waves)} "
        f"wave(s), version {loading.version}",
        soft_wrap=True,
    )
    for running in loading.running:
        out.print(
            f"{running.describe()} keeps running version {running.plan_version or loading.previous_version}, read at "
            f"its start; the next execution runs version {loading.version}",
            soft_wrap=True,
        )
    _print_after_storing(change, requested, parsed.PlanId, stack_known=deployed is not None)


def _print_after_storing(change: Any, requested: str | None, plan_id: str, *, stack_known: bool) -> None:
    out = console()
    if change is not None:
        details = change.to_json()
        out.print(
            f"drill schedule {change.name} {change.action}"
            + (f": {change.state}" if change.state else "")
            + (f", next drill {details['nextDrill']}" if details["nextDrill"] else ""),
            soft_wrap=True,
        )
    if requested is None:
        out.print(f"readiness of plan {plan_id} requested: drsctl plan readiness {plan_id}", soft_wrap=True)
    elif stack_known:
        out.print(f"warning: readiness not requested ({requested}); it runs within 30 minutes", soft_wrap=True)


def _stack_for_the_schedule(stack: str | None, plan: Any) -> DeployedStack:
    """The stack, when only the tables were given: a plan with a Schedule needs it (its schedule is the stack's)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from drsctl.operate.stack import StackNotFound, find_stack

    try:
        return find_stack(stack)
    except (StackNotFound, BotoCoreError, ClientError) as error:
        raise fail_invalid(
            f"plan {plan.PlanId} was stored, but its Schedule needs the stack ({error}): pass --stack and load it again"
        ) from error


def _after_storing(deployed: DeployedStack | None, plan: Any) -> tuple[Any, str | None]:
    """The plan's drill schedule made what its Schedule says, and its readiness requested (the stack's function,
    asynchronously): (the schedule's change, why readiness was not requested or None)."""
    if deployed is None:
        return None, "no stack"
    from drsctl.operate import readiness as deployed_readiness
    from drsctl.operate import schedules

    with operating(f"store the drill schedule of plan {plan.PlanId} (the plan itself is stored)"):
        change = schedules.apply(deployed, plan)
    return change, deployed_readiness.request_evaluation(deployed, plan.PlanId)


def _stack_for_the_check(stack: str | None, plan_id: str, *, force: bool) -> DeployedStack | None:
    """The stack whose running executions a changed plan is checked against, when only the tables were given.
    Without it the check cannot be made: refused, unless --force (then stored without the check)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from drsctl.operate.stack import StackNotFound, find_stack

    if force:
        return None
    try:
        return find_stack(stack)
    except (StackNotFound, BotoCoreError, ClientError) as error:
        raise fail_invalid(
            f"cannot check whether an execution of plan {plan_id} is running (the stack's state machine is needed: "
            f"{error}); pass --stack, or --force to store it without the check"
        ) from error


def _print_loading(loading: Any) -> None:
    out = console()
    if loading.previous_version is None:
        out.print(f"plan {loading.plan_id} is new (version {loading.version})", soft_wrap=True)
    elif not loading.changed:
        out.print(f"plan {loading.plan_id} is unchanged (version {loading.version})", soft_wrap=True)
    else:
        out.print(
            f"plan {loading.plan_id} changes: version {loading.previous_version} -> {loading.version}", soft_wrap=True
        )
    if loading.previous_version is not None:
        for line in loading.diff:
            typer.echo(line)


def _refuse_load(error: Any, tables: dict[str, str]) -> NoReturn:
    fix = setup_problem(error)
    if fix is not None:
        raise fail_invalid(f"cannot store the plan: {fix}") from error
    response = getattr(error, "response", {}) or {}
    if response.get("Error", {}).get("Code") == "ResourceNotFoundException":
        names = " or ".join(tables.values())
        raise fail_invalid(
            f"cannot store the plan: table {names} not found in region {region_name()} "
            f"({response['Error'].get('Message', '')}); pass the stack's ProtectionGroupsTable and RecoveryPlansTable "
            "outputs and set AWS_DEFAULT_REGION to the stack's region"
        ) from error
    console(stderr=True).print(
        Text.assemble(Text("could not store the plan:", style="red"), f" {error}"), soft_wrap=True
    )
    raise typer.Exit(EXIT_CANNOT_CHECK) from error
