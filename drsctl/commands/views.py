"""The rehearsal's tables, readable at 80 columns and when piped.

IDs (`s-...`, `i-...`, `drsjob-...`) and times never shrink: their columns are `no_wrap` and as wide as their
content. What gives way at a narrow width is free text (wave names, hostnames, reasons), which folds onto more
lines. Below WIDE_SERVERS columns a server's row stacks its IDs and times instead of spreading them out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table
from rich.text import Text

from drsctl.report.judge import OVERHEAD_GOAL
from drsctl.report.svg import clock

if TYPE_CHECKING:
    from drsctl.local.figures import Report, ServerFigures, StepFigures, WaveFigures

WIDE_SERVERS = 140  # one line per server from this console width up
NOT_LAUNCHED_SHOWN = 10  # servers listed per wave under the timeline without --servers
LAUNCHED_BEFORE = "LAUNCHED_BEFORE"  # a resumed execution's server that the execution it resumes launched

STATUS_STYLE = {
    "COMPLETED": "green",
    "LAUNCHED": "green",
    "SUCCEEDED": "green",
    "PARTIAL": "yellow",
    "SKIPPED": "dim",
    "CANCELLED": "yellow",
    "KEPT": "yellow",  # a failed drill's instances, kept to investigate
    "NOT_RUN": "yellow",
}


def clock_text(seconds: float | None) -> str:
    """`+HH:MM:SS` from the start of the execution, `-HH:MM:SS` before it: as the report page writes it."""
    return clock(seconds)


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, "red"))


def _fixed(table: Table, header: str, *, right: bool = False, min_width: int | None = None) -> None:
    """A column that never wraps or shrinks below `min_width`: IDs, statuses, times, counts."""
    table.add_column(header, no_wrap=True, justify="right" if right else "left", min_width=min_width)


def timeline_table(report: Report) -> Table:
    """One row per wave: how it ended, how many servers launched, when it started and ended, how long it took."""
    table = Table(title="Waves (virtual time from the start of the execution)")
    table.add_column("wave", overflow="fold", min_width=8, ratio=1)
    _fixed(table, "status")
    _fixed(table, "launched", right=True)
    for column in ("started", "ended", "took"):
        _fixed(table, column, right=True, min_width=9)
    for number, wave in enumerate(report.waves, start=1):
        launched = sum(s.status == "LAUNCHED" for s in wave.servers)
        _add_steps(table, [step for step in wave.steps if step.phase == "BEFORE"], "before")
        table.add_row(
            f"{number} {wave.name}",
            status_text(wave.status),
            f"{launched}/{len(wave.servers)}",
            clock_text(wave.startedAt),
            clock_text(wave.endedAt),
            clock_text(_span(wave.startedAt, wave.endedAt)),
        )
        _add_steps(table, [step for step in wave.steps if step.phase == "AFTER"], "after")
    if report.cleanup is not None:
        cleanup = report.cleanup
        table.add_row(
            "drill cleanup",
            status_text(cleanup.status),
            f"{len(cleanup.terminated)} ended",
            clock_text(cleanup.startedAt),
            clock_text(cleanup.endedAt),
            clock_text(_span(cleanup.startedAt, cleanup.endedAt)),
        )
    return table


def _add_steps(table: Table, steps: list[StepFigures], phase: str) -> None:
    """A wave's runbook steps, as rows around its own: what ran before it launched and after."""
    for step in steps:
        table.add_row(
            f"  {phase}: {step.name}",
            status_text(step.status),
            step.kind,
            clock_text(step.startedAt),
            clock_text(step.endedAt),
            clock_text(_span(step.startedAt, step.endedAt)),
        )


def servers_tables(report: Report, width: int) -> list[Table]:
    """The servers (--servers): outcome, reason, hostname, instance, job, times. From WIDE_SERVERS columns up, one
    table with one line per server; narrower, one table per wave whose cells stack two values each."""
    accounts = _many_accounts(report)
    if width >= WIDE_SERVERS:
        return [_wide_servers_table(report, accounts)]
    tables = []
    for number, wave in enumerate(report.waves, start=1):
        table = Table(
            title=f"Wave {number}: {wave.name}", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, min_width=60
        )
        _fixed(table, "server\nhost", min_width=19)
        if accounts:
            _fixed(table, "account\nregion", min_width=12)
        table.add_column("status\nreason", overflow="fold", ratio=1, min_width=9)
        _fixed(table, "job\ninstance", min_width=24)
        _fixed(table, "started\nlaunched", right=True, min_width=9)
        for server in wave.servers:
            located = [f"{server.account or '-'}\n{server.region or wave.region or '-'}"] if accounts else []
            table.add_row(
                f"{server.sourceServerId}\n{server.hostname or '-'}",
                *located,
                Text.assemble(status_text(server.status), f"\n{server.error}" if server.error else ""),
                f"{server.jobId or '-'}\n{server.recoveryInstanceId or '-'}",
                f"{clock_text(server.startedAt)}\n{clock_text(server.launchedAt)}",
            )
        tables.append(table)
    return tables


def _many_accounts(report: Report) -> bool:
    """Whether the report's servers are in more than one account: then the tables name each server's."""
    return len({server.account for wave in report.waves for server in wave.servers}) > 1


def _wide_servers_table(report: Report, accounts: bool) -> Table:
    table = Table(title="Servers", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    _fixed(table, "wave", right=True)
    _fixed(table, "server", min_width=19)
    if accounts:
        _fixed(table, "account", min_width=12)
        _fixed(table, "region")
    table.add_column("host", overflow="fold", ratio=1)
    _fixed(table, "status")
    table.add_column("reason", overflow="fold", ratio=1)
    _fixed(table, "instance", min_width=19)
    _fixed(table, "job", min_width=24)
    _fixed(table, "started", right=True, min_width=9)
    _fixed(table, "launched", right=True, min_width=9)
    for number, wave in enumerate(report.waves, start=1):
        for server in wave.servers:
            table.add_row(
                str(number),
                server.sourceServerId,
                *([server.account or "-", server.region or wave.region or "-"] if accounts else []),
                server.hostname or "-",
                status_text(server.status),
                server.error or "",
                server.recoveryInstanceId or "-",
                server.jobId or "-",
                clock_text(server.startedAt),
                clock_text(server.launchedAt),
            )
    return table


def not_launched_lines(report: Report) -> list[str]:
    """The servers of each wave that did not launch, with hostname and reason; at most NOT_LAUNCHED_SHOWN a wave."""
    lines: list[str] = []
    for number, wave in enumerate(report.waves, start=1):
        before = sum(server.error == LAUNCHED_BEFORE for server in wave.servers)
        if before:
            lines.append(f"wave {number} ({wave.name}): {before} server(s) launched by the execution it resumes")
        missing = _not_launched(wave)
        if not missing:
            continue
        lines.append(f"wave {number} ({wave.name}): {len(missing)} server(s) not launched")
        for server in missing[:NOT_LAUNCHED_SHOWN]:
            lines.append(f"  {server_line(server)}")
        if len(missing) > NOT_LAUNCHED_SHOWN:
            lines.append(f"  ... and {len(missing) - NOT_LAUNCHED_SHOWN} more (--servers lists every server)")
    return lines


def server_line(server: ServerFigures) -> str:
    """`s-... (host) STATUS: reason, job drsjob-...` for one server."""
    host = f" ({server.hostname})" if server.hostname else ""
    reason = f": {server.error}" if server.error else ""
    job = f", job {server.jobId}" if server.jobId else ""
    return f"{server.sourceServerId}{host} {server.status}{reason}{job}"


def _not_launched(wave: WaveFigures) -> list[ServerFigures]:
    if wave.status == "SKIPPED":
        return []
    return [server for server in wave.servers if server.status != "LAUNCHED" and server.error != LAUNCHED_BEFORE]


def figures_table(report: Report) -> Table:
    table = Table(title="Figures")
    table.add_column("figure", overflow="fold", ratio=1)
    _fixed(table, "value", right=True)
    rows: list[tuple[str, Any]] = [
        ("makespan", clock_text(report.makespanSeconds)),
        ("DRS critical path (slowest server per wave)", clock_text(report.criticalPathSeconds)),
        (
            f"overhead ratio (goal <= {OVERHEAD_GOAL})",
            report.overheadRatio if report.overheadRatio is not None else "-",
        ),
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
