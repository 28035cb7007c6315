"""What `drsctl run show` and `run watch` print: an execution's waves (one row each, with counts, so 2,000 servers
read as a few lines), the servers of small waves, runbook steps, and the approval waiting for an answer: its
question, wave and step, when it was asked, its deadline, what happens on timeout and how to answer (times in UTC).

User text (wave, step and host names, reasons) is printed as written (Text, never markup); IDs never wrap.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from drsctl.commands.views import status_text as final_status_text
from drsctl.operate.cleanup_view import cleanup_view
from drsctl.stamps import duration, utc
from lambdas.core.approvals import ON_TIMEOUT, iso_utc

if TYPE_CHECKING:
    from drsctl.operate.executions import PendingApproval, Snapshot
    from lambdas.core.records import WaveRecord

RTO_WARNING_SECONDS = 300  # the RTO countdown turns yellow in its last five minutes
SERVERS_SHOWN = 12  # a wave with at most this many servers lists them under --servers-auto; larger ones summarise
_UNDER_WAY = {"PENDING": "dim", "STARTING": "cyan", "POLLING": "cyan", "RUNNING": "cyan", "LAUNCHING": "cyan"}
_UNDER_WAY["IN_PROGRESS"] = "cyan"


def status_text(status: str) -> Text:
    """Statuses under way in cyan (pending dimmed), ended ones as the rehearsal colours them."""
    return Text(status, style=_UNDER_WAY[status]) if status in _UNDER_WAY else final_status_text(status)


def wave_state(status: str) -> str:
    """A wave as an execution is read: RUNNING while its servers launch (stored STARTING or POLLING)."""
    return "RUNNING" if status in ("STARTING", "POLLING") else status


_ORDER = ("LAUNCHED", "IN_PROGRESS", "LAUNCHING", "PENDING", "FAILED", "TIMED_OUT", "SKIPPED", "UNKNOWN")


def counts_text(wave: WaveRecord) -> str:
    """`4/6 launched, 2 in progress`: the wave's servers by status, launched first."""
    counts: Counter[str] = Counter(server.Status for server in wave.Servers)
    parts = [f"{counts.pop('LAUNCHED', 0)}/{len(wave.Servers)} launched"]
    parts += [f"{counts[status]} {status.lower().replace('_', ' ')}" for status in _ORDER if counts.get(status)]
    return ", ".join(parts)


def headline(current: Snapshot) -> Text:
    mode = current.input.get("ExecutionType") or (current.record.ExecutionType if current.record else None) or "?"
    plan = current.input.get("PlanId") or (current.record.PlanId if current.record else None) or "?"
    text = Text.assemble(f"Execution {current.name} (plan {plan}, {mode}): ", status_text(current.status))
    if current.waiting_for:
        text.append(f", waiting for {current.waiting_for}")
    resume = current.input.get("ResumeFrom")
    if resume:
        text.append(f", resuming {resume}")
    return text


def timing_line(current: Snapshot) -> Text | None:
    """`started 2026-11-29 20:15:03 UTC, elapsed 00:12:30, RTO 45 min: 00:32:30 left` while it runs (80 columns);
    `started ..., ended ... (took ...)` once its record has ended. Times by the stack's clock (the sandbox's runs
    ahead of this machine's)."""
    record = current.record
    started = record.StartTime if record is not None else _epoch(current.described.get("startDate"))
    if not started:
        return None
    text = Text(f"started {utc(started)}")
    if record is not None and record.EndTime and not current.record_running:
        text.append(f", ended {utc(record.EndTime, date=False)} (took {duration(record.EndTime - started)})")
        return text
    elapsed = max(0.0, current.now - started)
    text.append(f", elapsed {duration(elapsed)}")
    if current.rto_minutes is not None:
        left = current.rto_minutes * 60 - elapsed
        target = f", RTO {current.rto_minutes:g} min: "  # the plan's Options.RtoTargetMinutes
        if left >= 0:
            style = "green" if left > RTO_WARNING_SECONDS else "yellow"
            text.append(Text.assemble(target, Text(f"{duration(left)} left", style=style)))
        else:
            text.append(Text.assemble(target, Text(f"{duration(-left)} over", style="bold red")))
    return text


def cleanup_line(current: Snapshot) -> Text | None:
    """The drill cleanup's state (planned, waiting until, terminating n/m, done, kept, not run, failed, none), and
    `drsctl run cleanup NAME` when the drill ended with instances up."""
    view = cleanup_view(current.record)
    if view is None or (view["state"] == "none" and current.record_running):
        return None  # a recovery's, or a drill without DrillCleanup still running: nothing to say yet
    return Text.assemble(Text("cleanup: ", style="bold"), str(view["text"]))


def cancel_line(current: Snapshot) -> Text | None:
    """Who cancelled it and why, as its record keeps them (CancelledBy, CancelReason: the shared record contract)."""
    record = current.record
    by = getattr(record, "CancelledBy", None)
    reason = getattr(record, "CancelReason", None)
    if record is None or record.Status != "CANCELLED" or not (by or reason):
        return None
    at = getattr(record, "CancelledAt", None)
    return Text.assemble(
        Text("cancelled", style="yellow"),
        f" by {by or 'an unknown caller'}",
        f" at {iso_utc(at)}" if at else "",
        f": {reason}" if reason else "",
    )


def _epoch(value: object) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def approval_text(current: Snapshot, approval: PendingApproval) -> Text:
    """The waiting approval, whole: for `run show` and the live `run watch`."""
    given = _approved(approval)
    answers = "".join(
        f"\n              {a.get('By')}: {a.get('Decision')}" + (f" ({a.get('Reason')})" if a.get("Reason") else "")
        for a in approval.approvals
    )
    return Text.assemble(
        Text("Approval waiting: ", style="bold yellow"),
        f"{approval.name!s} {approval.where}\n",
        f"  question:   {approval.message or '-'}\n",
        f"  asked:      {iso_utc(approval.started_at)}\n",
        f"  deadline:   {iso_utc(approval.deadline)}\n",
        f"  on timeout: {approval.on_timeout}: {ON_TIMEOUT.get(approval.on_timeout, '')}\n",
        f"  approvers:  {given} of {approval.approvers_needed} distinct principal(s) approved{answers}\n",
        f'  answer:     drsctl run approve {current.name} --reason "..." (or --reject --reason "...")',
    )


def approval_line(current: Snapshot, approval: PendingApproval) -> Text:
    """The waiting approval on one line: what piped `run watch` prints (again when an answer is recorded)."""
    return Text.assemble(
        Text("Approval waiting: ", style="bold yellow"),
        f"{approval.name!s} {approval.where}: {approval.message or '-'} | asked {iso_utc(approval.started_at)}, "
        f"deadline {iso_utc(approval.deadline)}, on timeout {approval.on_timeout}: "
        f"{ON_TIMEOUT.get(approval.on_timeout, '')} | {_approved(approval)} of {approval.approvers_needed} "
        f'approved | answer: drsctl run approve {current.name} --reason "..." (or --reject --reason "...")',
    )


def _approved(approval: PendingApproval) -> int:
    return len({a.get("By") for a in approval.approvals if a.get("Decision") == "APPROVE"})


def waves_table(current: Snapshot) -> Table:
    table = Table(title=None)
    table.add_column("wave", overflow="fold", ratio=1, min_width=8)
    table.add_column("region", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("servers", overflow="fold", ratio=2, min_width=20)
    for wave in current.waves:
        for step in (s for s in wave.Steps if s.get("Phase") == "BEFORE"):
            table.add_row(f"  before: {step.get('Name')}", "", status_text(str(step.get("Status"))), step_detail(step))
        table.add_row(
            f"{wave.WaveNumber} {wave.WaveName}", wave.Region, status_text(wave_state(wave.Status)), counts_text(wave)
        )
        for step in (s for s in wave.Steps if s.get("Phase") == "AFTER"):
            table.add_row(f"  after: {step.get('Name')}", "", status_text(str(step.get("Status"))), step_detail(step))
    return table


def step_detail(step: dict[str, object]) -> str:
    parts = [str(step.get("Kind", "")).lower()]
    if step.get("Decision"):  # a decided approval: who (as AWS authenticated them), when, and why
        decided = f"{step['Decision']} by {step.get('DecidedBy') or 'an unrecorded principal'}"
        at = step.get("DecidedAt")
        parts.append(decided + (f" at {iso_utc(int(str(at)))}" if at else ""))
        parts.append(str(step.get("Reason") or step.get("Detail") or ""))
        return ": ".join(part for part in parts if part)
    if step.get("Detail"):
        parts.append(str(step["Detail"]))
    return ": ".join(parts)


def servers_table(wave: WaveRecord) -> Table:
    """A wave's servers; a wave over several accounts or Regions names each server's (a server is known by its
    account, Region and ID)."""
    where = {(server.Account, server.Region) for server in wave.Servers}
    table = Table(title=f"wave {wave.WaveNumber} servers")
    table.add_column("server", no_wrap=True)
    if len(where) > 1:
        table.add_column("account / region", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("instance", no_wrap=True)
    table.add_column("host / reason", overflow="fold", ratio=1)
    for server in wave.Servers:
        note = " ".join(part for part in (server.Hostname, server.Error) if part)
        located = [f"{server.Account or '-'} {server.Region or wave.Region}"] if len(where) > 1 else []
        table.add_row(server.SourceServerId, *located, status_text(server.Status), server.InstanceId or "-", note)
    return table


def render(current: Snapshot, *, servers: bool | None = None) -> RenderableType:
    """The whole view. `servers`: True lists every server, False none, None those of small waves still open or not
    launched (a 2,000-server plan stays a table of waves)."""
    parts: list[RenderableType] = [headline(current)]
    timing = timing_line(current)
    if timing is not None:
        parts.append(timing)
    if current.record is None and current.running:
        parts.append(Text("waiting for the execution's record (Prepare writes it)"))
    if current.waves:
        parts.append(waves_table(current))
    for wave in current.waves:
        if servers is True or (servers is None and len(wave.Servers) <= SERVERS_SHOWN and _worth_listing(wave)):
            parts.append(servers_table(wave))
    for approval in current.approvals():
        parts.append(approval_text(current, approval))
    cleanup = cleanup_line(current)
    if cleanup is not None:
        parts.append(cleanup)
    cancelled = cancel_line(current)
    if cancelled is not None:
        parts.append(cancelled)
    if not current.running:
        message = (current.record.ErrorMessage if current.record else None) or current.described.get("cause")
        if message and current.status != "COMPLETED":
            parts.append(Text(str(message)))
    return Group(*parts)


def _worth_listing(wave: WaveRecord) -> bool:
    return wave.Status in ("STARTING", "POLLING") or any(s.Status not in ("LAUNCHED", "PENDING") for s in wave.Servers)


def progress_lines(current: Snapshot) -> list[str]:
    """One plain line per wave and per waiting approval: what `run watch` prints on a change when not a terminal."""
    lines = []
    for wave in current.waves:
        steps = [f"{s.get('Phase', '').lower()} {s.get('Name')} {s.get('Status')}" for s in wave.Steps]
        suffix = f" [{'; '.join(steps)}]" if steps else ""
        lines.append(
            f"wave {wave.WaveNumber} ({wave.WaveName}): {wave_state(wave.Status)}, {counts_text(wave)}{suffix}"
        )
    for approval in current.approvals():
        lines.append(approval_line(current, approval).plain)
    return lines
