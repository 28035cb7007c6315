"""`drsctl rehearse`: run the real workflow definition locally against the DRS emulator on a virtual clock."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from drsctl.commands.common import fail_invalid, read_scenario
from drsctl.local.figures import Report
from drsctl.local.run import ProgressEvent
from drsctl.local.run import rehearse as run_rehearsal
from lambdas.core.errors import PlanValidationError
from lambdas.core.plan import ExecutionMode, RecoveryPlan, parse_plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXIT_COMPLETED, EXIT_NOT_COMPLETED = 0, 1
INVALID_INPUT_ERRORS = ("PlanValidationError", "PlanNotFoundError")


class Mode(enum.StrEnum):
    drill = "drill"
    recovery = "recovery"


def clock_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    return f"+{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def read_plan(path: Path) -> RecoveryPlan:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise fail_invalid(f"plan file not found: {path}") from error
    except yaml.YAMLError as error:
        raise fail_invalid(f"{path} is not valid YAML/JSON: {error}") from error
    try:
        return parse_plan(raw, str(path))
    except PlanValidationError as error:
        raise fail_invalid(str(error)) from error


class ProgressPrinter:
    """One line per change an operator cares about: waves starting, waiting, launching and ending; with `servers`,
    also each server as it launches or fails (a 2,000-server plan prints 2,000 such lines)."""

    def __init__(self, console: Console, *, servers: bool = False) -> None:
        self.console = console
        self.per_server = servers
        self.last: dict[int, tuple[str, int]] = {}
        self.servers: dict[str, str] = {}

    def __call__(self, event: ProgressEvent) -> None:
        detail = event.detail
        when = clock_text(event.elapsed)
        if "error" in detail:
            self.console.print(f"{when}  {event.step}: {detail['error']} (the workflow handles it)", highlight=False)
        elif event.step == "prepared":
            names = ", ".join(w["WaveName"] for w in detail["Waves"])
            self.console.print(
                f"{when}  prepared: {len(detail['Waves'])} wave(s) ({names}), {detail['ServerCount']} server(s)",
                highlight=False,
            )
            for warning in detail.get("Warnings", []):
                self.console.print(f"{when}  warning: {warning}", highlight=False, markup=False, soft_wrap=True)
        elif event.step == "wave started" and event.wave is not None:
            self._started(when, event.wave, detail)
        elif event.step == "wave checked" and event.wave is not None and detail.get("LastError"):
            self.console.print(
                f"{when}  wave {event.wave}: check got no answer ({detail['MissedChecks']} missed): "
                f"{detail['LastError']}",
                highlight=False,
                markup=False,
            )
        elif event.step == "wave checked" and event.wave is not None:
            if self.per_server:
                self._servers(when, event.wave, detail.get("ServerStates", {}))
            state = (detail["Status"], detail["Launched"])
            if self.last.get(event.wave) != state:
                self.last[event.wave] = state
                self.console.print(
                    f"{when}  wave {event.wave}: {detail['Status']}, {detail['Launched']}/{detail['Servers']} "
                    f"launched after {detail['Checks']} check(s)",
                    highlight=False,
                    markup=False,
                )
        elif event.step == "finished":
            self.console.print(f"{when}  finished: {detail.get('Summary', '')}", highlight=False)

    def _started(self, when: str, wave: int, detail: dict[str, Any]) -> None:
        status, delay = detail["Status"], detail["NextCheckSeconds"]
        if status == "RUNNING":
            self.last[wave] = ("RUNNING", 0)
            text = f"wave {wave}: started {detail['Servers']} server(s); first check in {delay} s"
        elif status == "WAITING_FOR_CAPACITY":
            text = f"wave {wave}: waiting for DRS capacity ({detail['LastError']}); next try in {delay} s"
        elif status == "STARTING":
            text = f"wave {wave}: some servers could not start yet ({detail['LastError']}); next try in {delay} s"
        else:
            text = f"wave {wave}: {status}"
        self.console.print(f"{when}  {text}", highlight=False, markup=False)

    def _servers(self, when: str, wave: int, states: dict[str, tuple[str, str | None, str | None]]) -> None:
        """One line per server that reached LAUNCHED, FAILED or TIMED_OUT since the last check, with the reason."""
        for server_id, (status, instance, error) in states.items():
            if status in ("LAUNCHED", "FAILED", "TIMED_OUT") and self.servers.get(server_id) != status:
                self.servers[server_id] = status
                colour = "green" if status == "LAUNCHED" else "red"
                suffix = f" as {instance}" if instance else ""
                reason = f" ({escape(error)})" if error else ""
                self.console.print(f"{when}    {server_id} [{colour}]{status}[/]{reason}{suffix}", highlight=False)


def timeline_table(report: Report) -> Table:
    """One row per wave: how it ended, its servers by outcome, when it started and ended."""
    table = Table(title="Waves (virtual time from the start of the execution)")
    table.add_column("wave", overflow="fold")
    for column in ("status", "launched", "not launched", "started", "ended", "took"):
        table.add_column(column, no_wrap=True, justify="right" if column != "status" else "left")
    for number, wave in enumerate(report.waves, start=1):
        launched = sum(s.status == "LAUNCHED" for s in wave.servers)
        table.add_row(
            escape(f"{number} {wave.name}"),
            wave.status,
            f"{launched}/{len(wave.servers)}",
            str(len(wave.servers) - launched),
            clock_text(wave.startedAt),
            clock_text(wave.endedAt),
            clock_text(_span(wave.startedAt, wave.endedAt)),
        )
    return table


def servers_table(report: Report) -> Table:
    """One row per server (--servers): its outcome, the reason when it did not launch, its job and times."""
    table = Table(title="Servers")
    table.add_column("wave", no_wrap=True, justify="right")
    table.add_column("server", no_wrap=True, min_width=19)
    table.add_column("status", no_wrap=True)
    table.add_column("reason", no_wrap=True)
    table.add_column("job", overflow="ellipsis", no_wrap=True)
    for column in ("started", "launched"):
        table.add_column(column, no_wrap=True, justify="right")
    for number, wave in enumerate(report.waves, start=1):
        for server in wave.servers:
            table.add_row(
                str(number),
                server.sourceServerId,
                server.status,
                escape(server.error or ""),
                server.jobId or "-",
                clock_text(server.startedAt),
                clock_text(server.launchedAt),
            )
    return table


def figures_table(report: Report) -> Table:
    table = Table(title="Figures")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows: list[tuple[str, Any]] = [
        ("makespan", clock_text(report.makespanSeconds)),
        ("DRS critical path (slowest server per wave)", clock_text(report.criticalPathSeconds)),
        ("overhead ratio (goal <= 1.03)", report.overheadRatio if report.overheadRatio is not None else "-"),
        ("longest Lambda invocation (wall)", f"{report.maxLambdaSeconds:.3f} s"),
        ("longest Lambda, wall + SDK backoff slept", f"{report.maxLambdaVirtualSeconds:.3f} s"),
        ("largest DynamoDB item (design <= 100 KB)", f"{report.maxItemBytes:,} B"),
        ("Lambda invocations", report.lambdaInvocations),
        ("history events (cap 25,000)", report.historyEvents),
        ("state transitions", report.stateTransitions),
        ("largest state payload (cap 262,144)", f"{report.maxPayloadBytes} B"),
        ("DRS API calls", report.drsApiCalls),
        ("StartRecovery calls", report.startRecoveryCalls),
        ("most launches of one server", report.launchesPerServerMax),
        ("rehearsal wall time", f"{report.wallSeconds:.2f} s"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def _span(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else end - start


def rehearse(
    plan: Annotated[Path, typer.Argument(help="Plan file (YAML or JSON).")] = EXAMPLES / "plan.yaml",
    scenario: Annotated[Path, typer.Option(help="Emulator scenario file.")] = EXAMPLES / "scenario.yaml",
    mode: Annotated[Mode, typer.Option(help="DRILL launches drill instances; RECOVERY fails over.")] = Mode.drill,
    json_report: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON (see docs/rehearsal.md).")
    ] = None,
    servers: Annotated[
        bool, typer.Option("--servers", help="Also show each server: its progress lines and a table row.")
    ] = False,
) -> None:
    """Rehearse a plan: the deployed workflow definition, run locally against the DRS emulator on a virtual clock.

    Exit code 0 when the execution ends COMPLETED, 1 for any other end, 2 for invalid input.
    """
    # Piped or redirected output has no terminal width: keep lines long enough for IDs and times to stay whole.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    parsed_plan = read_plan(plan)
    loaded = read_scenario(scenario)
    execution_type: ExecutionMode = "DRILL" if mode is Mode.drill else "RECOVERY"
    console.print(
        f"Rehearsing plan [bold]{parsed_plan.PlanId}[/] ({len(parsed_plan.Waves)} waves) as a {execution_type} "
        f"against {scenario.name} ({len(loaded.servers)} servers), on a virtual clock",
        highlight=False,
    )
    report = run_rehearsal(parsed_plan, loaded, execution_type, on_progress=ProgressPrinter(console, servers=servers))
    console.print(timeline_table(report))
    if servers:
        console.print(servers_table(report))
    for number, wave in enumerate(report.waves, start=1):
        if wave.status not in ("COMPLETED", "SKIPPED") and wave.errorMessage:
            console.print(f"wave {number} ({wave.name}): {wave.errorMessage}", highlight=False, markup=False)
    console.print(figures_table(report))
    if json_report is not None:
        json_report.write_text(report.to_json())
        console.print(f"report written to {json_report}", highlight=False)
    colour = {"COMPLETED": "green", "PARTIAL": "yellow"}.get(report.status, "red")
    console.print(f"Execution {report.executionId}: [bold {colour}]{report.status}[/]", highlight=False)
    if report.errorMessage:
        console.print(report.errorMessage, highlight=False, markup=False, soft_wrap=True)
    if report.status == "COMPLETED":
        raise typer.Exit(EXIT_COMPLETED)
    if report.stepFunctionsError in INVALID_INPUT_ERRORS:
        raise typer.Exit(2)
    raise typer.Exit(EXIT_NOT_COMPLETED)
