"""`drsctl rehearse`: run the real workflow definition locally against the DRS emulator on a virtual clock.

The engine (moto, boto3) is imported when the command runs, not when the CLI starts: `drsctl --help` stays fast.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.text import Text

from drsctl.commands.common import EXIT_INVALID_INPUT, console, fail_invalid
from drsctl.commands.inputs import check_writable, point_in_time_problems, read_plan, read_scenario, write_text
from drsctl.commands.views import (
    figures_table,
    not_launched_lines,
    servers_tables,
    status_text,
    timeline_table,
)

if TYPE_CHECKING:
    from rich.console import Console

    from drsctl.local.figures import Report

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXIT_COMPLETED, EXIT_NOT_COMPLETED = 0, 1
INVALID_INPUT_ERRORS = ("PlanValidationError", "PlanNotFoundError")


class Mode(enum.StrEnum):
    drill = "drill"
    recovery = "recovery"


MODE_OPTION = typer.Option(
    case_sensitive=False, help="DRILL launches drill instances; RECOVERY fails over (any case: drill, DRILL)."
)


def rehearse(  # noqa: PLR0917 - typer passes every option by keyword
    plan: Annotated[
        Path,
        typer.Argument(
            help="Plan file (YAML, or JSON if it ends in .json).", show_default="the bundled examples/plan.yaml"
        ),
    ] = EXAMPLES / "plan.yaml",
    scenario: Annotated[
        Path, typer.Option(help="Emulator scenario file.", show_default="the bundled examples/scenario.yaml")
    ] = EXAMPLES / "scenario.yaml",
    mode: Annotated[Mode, MODE_OPTION] = Mode.drill,
    json_report: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON (see docs/rehearsal.md).")
    ] = None,
    html_report: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the report as one self-contained HTML page (see docs/report.md)."),
    ] = None,
    servers: Annotated[
        bool, typer.Option("--servers", help="Also show each server: its progress lines and a table row.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="If the execution does not complete, rehearse its resume (ResumeFrom) once the scenario's server "
            "faults are fixed; the report is the resumed execution's.",
        ),
    ] = False,
    point_in_time: Annotated[
        str | None,
        typer.Option(
            "--point-in-time",
            metavar="TIME",
            help="Recover to this moment (ISO 8601, UTC, e.g. 2025-12-31T23:00:00Z; the rehearsal's clock starts at "
            "2026-01-01T00:00:00Z): each server launches from its newest recovery snapshot at or before it.",
        ),
    ] = None,
) -> None:
    """Rehearse a plan: the deployed workflow definition, run locally against the DRS emulator on a virtual clock.

    Exit code 0 when the execution ends COMPLETED, 1 for any other end, 2 for invalid input.
    """
    out = console()
    parsed_plan = read_plan(plan)
    loaded = read_scenario(scenario)
    if json_report is not None:
        check_writable(json_report, "report")  # before the rehearsal runs, not after
    if html_report is not None:
        check_writable(html_report, "HTML report")
    from drsctl.local.hooks import scenario_problems

    problems = scenario_problems(parsed_plan, loaded)
    if point_in_time is not None:
        problems.extend(point_in_time_problems(point_in_time))
    if problems:
        raise fail_invalid("\n".join(problems))
    from drsctl.commands.progress import ProgressPrinter
    from drsctl.local.run import rehearse as run_rehearsal

    execution_type: Literal["DRILL", "RECOVERY"] = "DRILL" if mode is Mode.drill else "RECOVERY"
    out.print(
        f"Rehearsing plan {parsed_plan.PlanId} ({len(parsed_plan.Waves)} waves) as a {execution_type} against "
        f"{scenario.name} ({len(loaded.servers)} servers), on a virtual clock"
    )
    hostnames = {server.id: server.hostname for server in loaded.servers}
    printer = ProgressPrinter(out, servers=servers, hostnames=hostnames)

    def first_ended(first: Report) -> None:
        out.print(timeline_table(first))
        out.print(Text.assemble(f"Execution {first.executionId}: ", status_text(first.status)))
        out.print(f"Fixing the scenario's server faults and resuming {first.executionId} (ResumeFrom)")

    report = run_rehearsal(
        parsed_plan,
        loaded,
        execution_type,
        on_progress=printer,
        resume=resume,
        on_first_end=first_ended,
        point_in_time=point_in_time,
    )
    _print_report(out, report, servers=servers)
    _write_reports(out, report, json_report, html_report)
    out.print(Text.assemble(f"Execution {report.executionId}: ", status_text(report.status)))
    if report.errorMessage:
        out.print(report.errorMessage)
    if report.cleanup is not None and report.cleanup.status != "COMPLETED" and report.cleanup.detail:
        out.print(f"drill cleanup: {report.cleanup.detail}")
    if report.status == "COMPLETED":
        raise typer.Exit(EXIT_COMPLETED)
    if report.stepFunctionsError in INVALID_INPUT_ERRORS:
        raise typer.Exit(EXIT_INVALID_INPUT)
    raise typer.Exit(EXIT_NOT_COMPLETED)


def _print_report(out: Console, report: Report, *, servers: bool) -> None:
    """The timeline, the servers that did not launch (or all, with --servers), failed waves' causes, the figures."""
    out.print(timeline_table(report))
    if servers:
        for table in servers_tables(report, out.width):
            out.print(table)
    else:
        for line in not_launched_lines(report):
            out.print(line)
    for number, wave in enumerate(report.waves, start=1):
        if wave.status not in ("COMPLETED", "SKIPPED") and wave.errorMessage:
            out.print(f"wave {number} ({wave.name}): {wave.errorMessage}")
    out.print(figures_table(report))


def _write_reports(out: Console, report: Report, json_report: Path | None, html_report: Path | None) -> None:
    """The JSON and the HTML page: the page is rendered from the same JSON, so the two never disagree."""
    if json_report is not None:
        write_text(json_report, report.to_json(), "report")
        out.print(f"report written to {json_report}")
    if html_report is not None:
        from drsctl.commands.report import write_html

        write_html(report.to_dict(), html_report)
        out.print(f"HTML report written to {html_report}")
