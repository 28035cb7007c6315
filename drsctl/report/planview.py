"""The path taken, drawn as the plan: each wave in plan order, and in it each step in the order it ran (the steps
before the launch, the launch, the steps after it), with what it did, how long it took and how often it was
retried; the start, the end and the drill cleanup around them. HTML, no script (the page's ids and attributes are
listed in docs/report.md).

Each row carries a small bar: where in the execution's time the step ran, on the same scale for every row.
"""

from __future__ import annotations

from typing import Any

from drsctl.report import sentences
from drsctl.report.gantt import by_outcome
from drsctl.report.judge import duration, wave_number
from drsctl.report.svg import attrs, clock, colour, esc

KIND_LABELS = {
    "Approval": "approval",
    "Wait": "wait",
    "HealthCheck": "health check",
    "Lambda": "function",
    "Launch": "DRS launch",
}
# An approval's SUCCEEDED is an approver's yes: the words the approvers used
APPROVAL_WORDS = {"SUCCEEDED": "APPROVED"}


def render(report: dict[str, Any]) -> str:
    span = _span(report)
    times = sentences.Clock(report)
    items = [_start(report, times, span)]
    for index, wave in enumerate(report["waves"], start=1):
        items.append(_wave(wave, wave_number(wave, index), report, times, span))
    if report.get("cleanup"):
        items.append(_cleanup(report, times, span))
    items.append(_end(report, times, span))
    return f'<ol id="plan-view" class="plan"{attrs(data_waves=len(report["waves"]))}>' + "".join(items) + "</ol>"


def _span(report: dict[str, Any]) -> float:
    cleanup = report.get("cleanup") or {}
    return max(float(report.get("makespanSeconds") or 0), float(cleanup.get("endedAt") or 0), 1.0)


def _bar(start: Any, end: Any, status: str | None, span: float, *, waited_from: Any = None) -> str:
    """Where in the execution the row ran: a segment of a track as wide as the whole execution; `waited_from`: the
    wait before `start` (a drill cleanup's AfterMinutes), drawn pale before it."""
    if start is None:
        return '<div class="track"></div>'
    segments = [_segment(start, end, colour(status), span)]
    if waited_from is not None and float(waited_from) < float(start):
        segments.insert(0, _segment(waited_from, start, colour(status), span, kind="seg wait"))
    return f'<div class="track">{"".join(segments)}</div>'


def _segment(start: Any, end: Any, background: str, span: float, *, kind: str = "seg") -> str:
    begin = max(0.0, min(float(start) / span, 1.0))
    width = max(0.004, min((float(end if end is not None else span) - float(start)) / span, 1.0 - begin))
    style = f"left:{begin * 100:.2f}%;width:{width * 100:.2f}%;background:{background}"
    return f'<div class="{kind}" style="{style}"></div>'


def _row(
    *,
    wave: int,
    phase: str,
    kind: str,
    name: str,
    status: str,
    shown_status: str,
    what: str,
    start: Any,
    end: Any,
    retries: int,
    span: float,
) -> str:
    took = None if start is None or end is None else max(0.0, float(end) - float(start))
    values = attrs(
        class_="plan-step",
        data_wave=wave,
        data_phase=phase,
        data_kind=kind,
        data_status=status,
        data_name=name,
        data_seconds=round(took, 1) if took is not None else None,
        data_retries=retries,
    )
    retried = f"{retries}&#215;" if retries else "none"
    return (
        f"<tr{values}>"
        f'<td class="step-kind">{esc(KIND_LABELS.get(kind, kind))}</td>'
        f'<td class="step-name">{esc(name)}</td>'
        f'<td class="step-status status" style="color:{colour(status)}">{esc(shown_status)}</td>'
        f'<td class="step-what">{esc(what)}</td>'
        f'<td class="step-took num">{duration(took)}</td>'
        f'<td class="step-retries num">{retried}</td>'
        f'<td class="step-when">{_bar(start, end, status, span)}'
        f'<span class="when-text">{clock(start)} → {clock(end)}</span></td></tr>'
    )


def _wave(wave: dict[str, Any], number: int, report: dict[str, Any], times: sentences.Clock, span: float) -> str:
    status = wave["status"]
    steps = wave.get("steps") or []
    rows = [_step_row(s, number, times, span) for s in steps if s.get("phase") == "BEFORE"]
    if wave.get("startedAt") is not None or status not in ("SKIPPED", "PENDING"):
        rows.append(_launch_row(wave, number, span))
    rows += [_step_row(s, number, times, span) for s in steps if s.get("phase") != "BEFORE"]
    starts = [t for t in [wave.get("startedAt")] + [s.get("startedAt") for s in steps] if t is not None]
    ends = [t for t in [wave.get("endedAt")] + [s.get("endedAt") for s in steps] if t is not None]
    took = f"{duration(max(ends) - min(starts))}, {clock(min(starts))} → {clock(max(ends))}" if starts and ends else ""
    head = (
        f'<div class="plan-wave-head"><span class="wave-no">Wave {number}</span> '
        f'<span class="wave-name">{esc(wave["name"])}</span> '
        f'<span class="wave-where">{esc(wave.get("region") or "")} · {esc(wave.get("impact") or "CRITICAL")} · '
        f"{len(wave['servers']):,} server(s)</span> "
        f'<span class="status" style="color:{colour(status)}">{esc(status)}</span>'
        + (f' <span class="wave-took">{took}</span>' if took else "")
        + "</div>"
    )
    if not rows:
        why = wave.get("errorMessage") or "an earlier wave or step stopped the plan before it"
        body = f'<p class="plan-skipped note">Not started: {esc(why)}</p>'
    else:
        body = (
            '<table class="plan-steps"><thead><tr><th>step</th><th>name</th><th>outcome</th><th>what it did</th>'
            '<th>took</th><th>retries</th><th class="step-when">when (from the start)</th></tr></thead><tbody>'
            + "".join(rows)
            + "</tbody></table>"
        )
    values = attrs(class_="plan-wave", data_wave=number, data_name=wave["name"], data_status=status)
    return f'<li{values} style="border-left-color:{colour(status)}">{head}{body}</li>'


def _step_row(step: dict[str, Any], number: int, times: sentences.Clock, span: float) -> str:
    status = step["status"]
    shown = APPROVAL_WORDS.get(status, status) if step["kind"] == "Approval" else status
    return _row(
        wave=number,
        phase=step["phase"],
        kind=step["kind"],
        name=step["name"],
        status=status,
        shown_status=shown.replace("_", " "),
        what=sentences.step(step, times),
        start=step.get("startedAt"),
        end=step.get("endedAt"),
        retries=int(step.get("retries") or 0),
        span=span,
    )


def _launch_row(wave: dict[str, Any], number: int, span: float) -> str:
    servers = wave["servers"]
    outcomes: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for server in servers:
        outcomes[server["status"]] = outcomes.get(server["status"], 0) + 1
        if server["status"] != "LAUNCHED" and server.get("error"):
            reasons[server["error"]] = reasons.get(server["error"], 0) + 1
    jobs = len(wave.get("jobIds") or [])
    activity = wave.get("activity") or {}
    said = f"StartRecovery for {len(servers):,} server(s) in {jobs} DRS job(s)"
    rounds = activity.get("startRounds") or 0
    if rounds > 1:
        said += f" ({rounds} rounds: some had to wait)"
    checks = activity.get("jobChecks")
    if checks:
        said += f"; DRS checked {checks} time(s)"
    waits = []
    if activity.get("capacityWaits"):
        waits.append(f"{activity['capacityWaits']} wait(s) for DRS capacity")
    if activity.get("conflictWaits"):
        waits.append(f"{activity['conflictWaits']} wait(s) to start again (DRS busy or throttled)")
    if wave.get("missedChecks"):
        waits.append(f"{wave['missedChecks']} check(s) unanswered")
    if waits:
        said += "; " + ", ".join(waits)
    ended = ", ".join(f"{count:,} {status.lower().replace('_', ' ')}" for status, count in by_outcome(outcomes))
    said += f". {ended[0].upper() + ended[1:]}" if ended else ""
    if reasons:
        said += " (" + ", ".join(f"{reason}: {count:,}" for reason, count in sorted(reasons.items())) + ")"
    said += "."
    return _row(
        wave=number,
        phase="LAUNCH",
        kind="Launch",
        name="Recover the wave's servers",
        status=wave["status"],
        shown_status=wave["status"].replace("_", " "),
        what=said,
        start=wave.get("startedAt"),
        end=wave.get("endedAt"),
        retries=int(activity.get("taskRetries") or 0),
        span=span,
    )


def _start(report: dict[str, Any], times: sentences.Clock, span: float) -> str:
    activity = report.get("activity") or {}
    rounds = activity.get("lockRounds")
    locked = f"; the plan's servers locked in {rounds} round(s)" if rounds else ""
    retried = activity.get("taskRetries") or 0
    retries = f"; {retried} task retr{'y' if retried == 1 else 'ies'} outside the waves" if retried else ""
    version = report.get("planVersion") or "not recorded"
    return (
        '<li class="plan-stage" data-stage="start">'
        f"<strong>Start</strong> {esc(sentences.utc(times.start))}: plan "
        f"<code>{esc(report.get('planId') or '-')}</code> version <code>{esc(version)}</code>, "
        f"{esc(sentences.started_by(report))}{esc(locked)}{esc(retries)}.</li>"
    )


def _end(report: dict[str, Any], times: sentences.Clock, span: float) -> str:
    recovered = report["rto"].get("achievedSeconds")
    said = (
        f"Ended {report['status']} at {clock(report.get('makespanSeconds'))} ({times.iso_text(report.get('endTime'))})"
    )
    if report.get("cleanup"):
        said += ", after the drill cleanup"
    if report["status"] in ("COMPLETED", "PARTIAL") and recovered is not None:
        said += f"; recovered at {clock(recovered)} (the RTO's measure)"
    if report.get("cancelledBy") or report.get("cancelReason"):
        said += f"; cancelled by {report.get('cancelledBy') or 'an operator not recorded'}"
        said += f": {sentences.quoted(report['cancelReason'])}" if report.get("cancelReason") else ""
    return f'<li class="plan-stage"{attrs(data_stage="end", data_status=report["status"])}>{esc(said)}.</li>'


def _cleanup(report: dict[str, Any], times: sentences.Clock, span: float) -> str:
    done = report["cleanup"]
    status = done.get("status")
    start = done.get("startedAt")
    waited = None if sentences.cleanup_after_the_end(report) else done.get("waitStartedAt")  # its AfterMinutes
    if start is None:  # it never terminated anything (kept, not run): the wait is all there is to draw
        start, waited = waited, None
    checks = (report.get("activity") or {}).get("terminateChecks")
    checked = f" Checked its TERMINATE jobs {checks} time(s)." if checks else ""
    return (
        f'<li class="plan-stage"{attrs(data_stage="cleanup", data_status=status)}>'
        f"<strong>Drill cleanup</strong> ({esc(status)}): {esc(sentences.cleanup(report, times))}{esc(checked)}"
        f"{_bar(start, done.get('endedAt'), status, span, waited_from=waited)}</li>"
    )
