"""The drill report as one self-contained HTML page: inline CSS and SVG, no script, no font or image fetched.

Summary first (the verdict in a sentence), then the timeline, the path taken, each wave and its servers, the
approvals and other runbook steps, the cleanup, and the figures. The ids, classes and data- attributes other tools
(and the browser tests) read are listed in docs/report.md; keep them stable.
"""

from __future__ import annotations

from typing import Any

from drsctl.report import gantt, graph
from drsctl.report.judge import OVERHEAD_GOAL, duration, wave_number
from drsctl.report.svg import OUTCOME_COLOURS, attrs, clock, colour, esc

CSS = """
:root { --ink: #1b1f23; --muted: #5f6b76; --line: #d0d7de; --soft: #f6f8fa; --accent: #1565c0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); margin: 0 auto; max-width: 1180px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: var(--muted); margin: 0 0 12px; }
#verdict { font-size: 16px; padding: 10px 14px; border-left: 5px solid var(--accent); background: var(--soft); }
#verdict.bad { border-color: #c62828; } #verdict.good { border-color: #2e7d32; }
#verdict.mixed { border-color: #f9a825; }
dl.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 6px 18px;
              margin: 12px 0; }
dl.figures div { border: 1px solid var(--line); border-radius: 4px; padding: 6px 10px; }
dl.figures dt { color: var(--muted); font-size: 12px; } dl.figures dd { margin: 0; font-weight: 600; }
.met { color: #2e7d32; } .missed { color: #c62828; } .none { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 12.5px; }
th, td { border: 1px solid var(--line); padding: 3px 6px; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
p, dd, li, code { overflow-wrap: anywhere; }
th { background: var(--soft); } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.status { font-weight: 600; } .note { color: var(--muted); }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: middle; }
svg { width: 100%; height: auto; display: block; }
svg text { font: 10px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--ink); }
#gantt .wave-label { font-weight: 600; font-size: 11px; } #gantt .tick { stroke: #eaeef2; }
#gantt .tick-label { fill: var(--muted); } #gantt .baseline { stroke: var(--line); }
#gantt .note { fill: var(--muted); }
#rto-target line { stroke: #c62828; stroke-width: 1.5; stroke-dasharray: 6 3; } #rto-target text { fill: #c62828; }
#state-graph .state rect { stroke-width: 1.2; }
#state-graph .state.entered rect { fill: #e3f2fd; stroke: var(--accent); stroke-width: 2; }
#state-graph .state.not-entered rect { fill: #fafbfc; stroke: #b8c0c8; stroke-dasharray: 4 3; }
#state-graph .state.not-entered text { fill: #8a949e; }
#state-graph .state.container.entered rect { fill: #f5f9ff; }
#state-graph .state.container.not-entered rect { fill: none; }
#state-graph .count { fill: var(--accent); font-weight: 700; }
#state-graph .state-type { fill: var(--muted); font-size: 8px; }
#state-graph .transition path { fill: none; stroke: #c3cad1; stroke-width: 1; }
#state-graph .transition.taken path { stroke: var(--accent); stroke-width: 1.6; }
#state-graph .arrow-head { fill: #c3cad1; } #state-graph .arrow-head.taken { fill: var(--accent); }
#state-graph .edge-count { fill: var(--accent); font-size: 9px; }
details > summary { cursor: pointer; color: var(--accent); }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  section.page { break-before: page; } section.page:first-of-type { break-before: auto; }
  .wave-detail { break-inside: avoid-page; } tr { break-inside: avoid; }
  details > summary { display: none; } details { display: block; }
  a { color: inherit; text-decoration: none; }
}
"""


def render(report: dict[str, Any]) -> str:
    """The whole page for a report's JSON (as `judge.complete` leaves it)."""
    title = f"DR {report['mode'].lower()} report: {report.get('planName') or report.get('planId') or ''}".strip()
    body = [
        _summary(report),
        _timeline(report),
        _path(report),
        _waves(report),
        _steps(report),
        _cleanup(report),
        _figures(report),
    ]
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body{attrs(data_execution=report['executionId'], data_status=report['status'])}"
        f"{attrs(data_source=report.get('source'))}>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _met(value: bool | None) -> str:
    if value is None:
        return '<span class="none">no target</span>'
    return '<span class="met">met</span>' if value else '<span class="missed">missed</span>'


def _figure(name: str, label: str, value: str, raw: Any = None, **extra: Any) -> str:
    return f"<div><dt>{esc(label)}</dt><dd{attrs(data_figure=name, data_value=raw, **extra)}>{value}</dd></div>"


def _summary(report: dict[str, Any]) -> str:
    counts, rto, rpo = report["serverCounts"], report["rto"], report["rpo"]
    tone = "good" if report["status"] == "COMPLETED" else "mixed" if report["status"] == "PARTIAL" else "bad"
    if rto["met"] is False or rpo["met"] is False:
        tone = "bad" if tone == "bad" else "mixed"
    plan = report.get("planName") or report.get("planId") or "-"
    figures = [
        _figure("plan", "plan", f"{esc(plan)} <code>{esc(report.get('planId') or '')}</code>", report.get("planId")),
        _figure("mode", "mode", esc(report["mode"]), report["mode"]),
        _figure("started-by", "started by", esc(report.get("startedBy") or "unknown"), report.get("startedBy")),
        _figure("start", "started", esc(report.get("startTime") or "-"), report.get("startTime")),
        _figure("end", "ended", esc(report.get("endTime") or "-"), report.get("endTime")),
        _figure(
            "status",
            "status",
            f'<span class="status" style="color:{colour(report["status"])}">{esc(report["status"])}</span>',
            report["status"],
        ),
        _figure("makespan", "makespan", duration(report["makespanSeconds"]), report["makespanSeconds"]),
        _figure(
            "rto",
            "RTO target (last wave ended)",
            f"{duration(rto['targetSeconds']) if rto['targetSeconds'] is not None else 'none'} "
            f"({duration(rto['achievedSeconds'])}) {_met(rto['met'])}",
            rto["targetSeconds"],
            data_met=rto["met"],
            data_achieved=rto["achievedSeconds"],
        ),
        _figure(
            "rpo",
            "RPO target (worst server)",
            f"{duration(rpo['targetSeconds']) if rpo['targetSeconds'] is not None else 'none'} "
            f"({duration(rpo['worstSeconds'])}) {_met(rpo['met'])}",
            rpo["targetSeconds"],
            data_met=rpo["met"],
            data_achieved=rpo["worstSeconds"],
        ),
        _figure("launched", "servers launched", f"{counts['launched']:,} of {counts['total']:,}", counts["launched"]),
        _figure("failed", "servers failed", f"{counts['failed']:,}", counts["failed"]),
        _figure("skipped", "servers skipped", f"{counts['skipped']:,}", counts["skipped"]),
    ]
    extra = ""
    if report.get("resumedFrom"):
        extra += f'<p id="resumed-from">Resumed from execution <code>{esc(report["resumedFrom"])}</code>.</p>'
    if report.get("errorMessage"):
        extra += f'<p id="error-message" class="missed">{esc(report["errorMessage"])}</p>'
    if report.get("warnings"):
        extra += '<ul id="warnings">' + "".join(f"<li>{esc(w)}</li>" for w in report["warnings"]) + "</ul>"
    return (
        f'<section id="summary" class="page"><h1>{esc(plan)}: {esc(report["mode"].lower())} report</h1>'
        f'<p class="sub">Execution <code id="execution-id">{esc(report["executionId"])}</code> '
        f"({esc(report.get('source') or 'rehearsal')})</p>"
        f'<p id="verdict" class="{tone}">{esc(report["verdict"])}</p>'
        f'<dl class="figures">{"".join(figures)}</dl>{extra}</section>'
    )


def _legend() -> str:
    shown = ("LAUNCHED", "PARTIAL", "FAILED", "TIMED_OUT", "UNKNOWN", "CANCELLED", "SKIPPED")
    items = "".join(f'<span><i style="background:{OUTCOME_COLOURS[s]}"></i>{s.lower()}</span>' for s in shown)
    return f'<p class="legend">{items}<span><i style="background:#1565c0"></i>running</span></p>'


def _timeline(report: dict[str, Any]) -> str:
    note = (
        f"Each wave's servers as one bar from StartRecovery to launch; a wave of more than "
        f"{gantt.SERVER_BARS_MAX} servers as a histogram of launch times and its servers by outcome."
    )
    return (
        f'<section id="timeline" class="page"><h2>Timeline</h2><p class="note">Time from the start of the execution. '
        f"{note}</p>{_legend()}{gantt.render(report)}</section>"
    )


def _path(report: dict[str, Any]) -> str:
    return (
        '<section id="path" class="page"><h2>Path taken</h2><p class="note">The deployed state machine, drawn from '
        "its definition: states the execution entered are highlighted with how many times (&#215;N), transitions it "
        f"took are solid with their count.</p>{graph.render(report)}</section>"
    )


def _waves(report: dict[str, Any]) -> str:
    parts = ['<section id="waves" class="page"><h2>Waves and servers</h2>']
    summary_rows = []
    for index, wave in enumerate(report["waves"], start=1):
        number = wave_number(wave, index)
        servers = wave["servers"]
        launched = sum(1 for s in servers if s["status"] == "LAUNCHED")
        summary_rows.append(
            f"<tr{attrs(class_='wave-row', data_wave=number, data_status=wave['status'])}>"
            f'<td class="num">{number}</td><td>{esc(wave["name"])}</td>'
            f'<td class="status" style="color:{colour(wave["status"])}">{esc(wave["status"])}</td>'
            f'<td class="num">{launched:,}/{len(servers):,}</td><td class="num">{clock(wave.get("startedAt"))}</td>'
            f'<td class="num">{clock(wave.get("endedAt"))}</td>'
            f"<td{attrs(class_='rto', data_met=wave['rto']['met'])}>{clock(wave['rto']['achievedSeconds'])} "
            f"{_met(wave['rto']['met'])}</td>"
            f"<td{attrs(class_='rpo', data_met=wave['rpo']['met'])}>{duration(wave['rpo']['worstSeconds'])} "
            f"{_met(wave['rpo']['met'])}</td></tr>"
        )
    parts.append(
        '<table id="wave-summary"><thead><tr><th>#</th><th>wave</th><th>status</th><th>launched</th><th>started</th>'
        "<th>ended</th><th>RTO (ended at)</th><th>RPO (worst)</th></tr></thead><tbody>"
        + "".join(summary_rows)
        + "</tbody></table>"
    )
    for index, wave in enumerate(report["waves"], start=1):
        parts.append(_wave_detail(wave, wave_number(wave, index)))
    parts.append("</section>")
    return "".join(parts)


def _wave_detail(wave: dict[str, Any], number: int) -> str:
    values = attrs(
        class_="wave-detail",
        id=f"wave-{number}",
        data_wave=number,
        data_name=wave["name"],
        data_status=wave["status"],
        data_rto_met=wave["rto"]["met"],
        data_rpo_met=wave["rpo"]["met"],
        data_servers=len(wave["servers"]),
    )
    jobs = ", ".join(f'<code class="job-id">{esc(job)}</code>' for job in wave.get("jobIds") or []) or "none"
    head = (
        f"<h3>Wave {number}: {esc(wave['name'])} "
        f'<span class="status" style="color:{colour(wave["status"])}">{esc(wave["status"])}</span></h3>'
        f'<p class="note">{esc(wave.get("region") or "")} · impact {esc(wave.get("impact") or "CRITICAL")} · '
        f"DRS jobs: {jobs}"
        + (f" · {wave['missedChecks']} missed check(s)" if wave.get("missedChecks") else "")
        + "</p>"
    )
    if wave.get("errorMessage"):
        head += f'<p class="wave-error missed">{esc(wave["errorMessage"])}</p>'
    rows = "".join(_server_row(server) for server in wave["servers"])
    table = (
        '<table class="servers"><thead><tr><th>source server</th><th>hostname</th><th>status</th><th>DRS job</th>'
        "<th>recovery instance</th><th>started</th><th>launched</th><th>recovery point</th><th>RPO</th>"
        f"<th>failure reason</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    return f"<section{values}>{head}{table}</section>"


def _server_row(server: dict[str, Any]) -> str:
    values = attrs(
        class_="server",
        data_server=server["sourceServerId"],
        data_status=server["status"],
        data_rpo_met=server.get("rpoMet"),
    )

    def cell(name: str, text: str, css: str = "") -> str:
        return f"<td{attrs(data_field=name, class_=css or None)}>{text}</td>"

    return (
        f"<tr{values}>"
        + cell("sourceServerId", esc(server["sourceServerId"]), "id")
        + cell("hostname", esc(server.get("hostname") or "-"))
        + f'<td data-field="status" class="status" style="color:{colour(server["status"])}">'
        + f"{esc(server['status'])}</td>"
        + cell("jobId", esc(server.get("jobId") or "-"), "id")
        + cell("recoveryInstanceId", esc(server.get("recoveryInstanceId") or "-"), "id")
        + cell("startedAt", clock(server.get("startedAt")), "num")
        + cell("launchedAt", clock(server.get("launchedAt")), "num")
        + cell("recoveryPointAt", clock(server.get("recoveryPointAt")), "num")
        + cell("rpoSeconds", duration(server.get("rpoSeconds")), "num")
        + cell("error", esc(server.get("error") or ""))
        + "</tr>"
    )


def _steps(report: dict[str, Any]) -> str:
    rows = []
    for index, wave in enumerate(report["waves"], start=1):
        number = wave_number(wave, index)
        for step in wave.get("steps") or []:
            approval = step["kind"] == "Approval"
            decision = {"SUCCEEDED": "APPROVED"}.get(step["status"], step["status"]) if approval else ""
            rows.append(
                f"<tr{attrs(class_='approval step-row' if approval else 'step-row', data_wave=number)}"
                f"{attrs(data_kind=step['kind'], data_status=step['status'], data_decided_by=step.get('decidedBy'))}>"
                f"<td>{number} {esc(wave['name'])}</td><td>{esc(step['phase'].lower())}</td>"
                f"<td>{esc(step['kind'])}</td>"
                f"<td>{esc(step['name'])}</td>"
                f'<td class="status" style="color:{colour(step["status"])}">{esc(decision or step["status"])}</td>'
                f"<td>{esc(step.get('decidedBy') or '')}</td>"
                f'<td class="num">{clock(step.get("startedAt"))}</td><td class="num">{clock(step.get("endedAt"))}</td>'
                f"<td>{esc(step.get('detail') or '')}</td></tr>"
            )
    approvals = sum(1 for row in rows if "approval" in row.split(">", 1)[0])
    body = (
        '<table id="steps"><thead><tr><th>wave</th><th>phase</th><th>kind</th><th>step</th><th>outcome</th>'
        "<th>decided by</th><th>started</th><th>ended</th><th>detail</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else '<p class="note">The plan has no runbook steps.</p>'
    )
    return (
        f'<section id="approvals" class="page"{attrs(data_steps=len(rows), data_approvals=approvals)}>'
        f"<h2>Approvals and runbook steps</h2>{body}</section>"
    )


def _no_cleanup_note(report: dict[str, Any]) -> str:
    """Why no cleanup ran, and for a drill that left instances up, the command that terminates them."""
    if report.get("mode") == "RECOVERY":
        return "No cleanup: a recovery keeps its instances (they are production)."
    up = sum(1 for wave in report.get("waves", []) for s in wave.get("servers", []) if s.get("recoveryInstanceId"))
    if not up:
        return "No cleanup ran: no drill instance was launched."
    return (
        f"No cleanup ran (the plan has no Options.DrillCleanup): this drill's {up:,} recovery instance(s) are still "
        f"up; terminate them with drsctl run cleanup {report.get('executionId')}."
    )


def _cleanup(report: dict[str, Any]) -> str:
    cleanup = report.get("cleanup")
    if not cleanup:
        note = _no_cleanup_note(report)
        return (
            '<section id="cleanup" class="page" data-status="NONE"><h2>Cleanup</h2>'
            f'<p class="note">{esc(note)}</p></section>'
        )
    terminated = cleanup.get("terminated") or []
    jobs = ", ".join(f'<code class="job-id">{esc(job)}</code>' for job in cleanup.get("jobIds") or []) or "none"
    items = "".join(f'<li class="terminated"{attrs(data_instance=i)}><code>{esc(i)}</code></li>' for i in terminated)
    return (
        '<section id="cleanup" class="page"'
        f"{attrs(data_status=cleanup.get('status'), data_terminated=len(terminated))}>"
        f'<h2>Cleanup</h2><p>Status <span class="status" style="color:{colour(cleanup.get("status"))}">'
        f"{esc(cleanup.get('status'))}</span>, from {clock(cleanup.get('startedAt'))} to "
        f"{clock(cleanup.get('endedAt'))}; DRS jobs: {jobs}.</p>"
        f"<p>{len(terminated):,} recovery instance(s) terminated.</p>"
        + (f'<p class="cleanup-detail">{esc(cleanup["detail"])}</p>' if cleanup.get("detail") else "")
        + (f"<details open><summary>Instances</summary><ul>{items}</ul></details>" if terminated else "")
        + "</section>"
    )


FIGURES = (
    ("makespanSeconds", "makespan (s)"),
    ("criticalPathSeconds", "DRS critical path (s)"),
    ("overheadRatio", f"overhead ratio (goal <= {OVERHEAD_GOAL})"),
    ("historyEvents", "history events (cap 25,000)"),
    ("stateTransitions", "state transitions"),
    ("lambdaInvocations", "Lambda invocations"),
    ("maxLambdaSeconds", "longest Lambda invocation (s, wall)"),
    ("maxPayloadBytes", "largest state payload (bytes)"),
    ("drsApiCalls", "DRS API calls"),
    ("startRecoveryCalls", "StartRecovery calls"),
    ("launchesPerServerMax", "launches per server (max)"),
    ("maxItemBytes", "largest DynamoDB item (bytes)"),
)


def _figures(report: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr{attrs(data_figure=key)}><td>{esc(label)}</td><td class="num">'
        f"{esc('-' if report.get(key) is None else report[key])}</td></tr>"
        for key, label in FIGURES
    )
    return (
        '<section id="figures" class="page"><h2>Figures</h2>'
        f'<table id="figures-table"><tbody>{rows}</tbody></table></section>'
    )
