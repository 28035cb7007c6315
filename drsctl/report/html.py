"""The drill report as one self-contained HTML page: inline CSS and SVG, no script, no font or image fetched.

Summary first (the verdict in a sentence), then the timeline, the path taken, each wave and its servers, the
approvals and other runbook steps, the cleanup, and the figures. The ids, classes and data- attributes other tools
(and the browser tests) read are listed in docs/report.md; keep them stable.
"""

from __future__ import annotations

from typing import Any

from drsctl.report import gantt, graph, planview, sentences
from drsctl.report.judge import OVERHEAD_GOAL, RECOVERED, duration, rpo_unjudged_reason, wave_number
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
         overflow-wrap: break-word; }
p, dd, li { overflow-wrap: break-word; }
code, .id, td.id { overflow-wrap: anywhere; }
.id.principal { overflow-wrap: break-word; }
table.servers td.id { white-space: nowrap; }
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
.how { display: block; color: var(--muted); font-weight: 400; font-size: 12px; }
.rel { color: var(--muted); font-size: 11px; }
#time-split, #rpo-measure { margin: 8px 0; }
#audit { margin: 4px 0 12px; padding-left: 22px; } #audit li { margin: 2px 0; }
#audit .at { font-variant-numeric: tabular-nums; font-weight: 600; white-space: nowrap; }
#rehearsal-banner { position: sticky; top: 0; z-index: 5; margin: -24px -24px 16px; padding: 12px 24px;
  color: #fff; background: repeating-linear-gradient(135deg, #b71c1c 0 22px, #c62828 22px 44px);
  border-bottom: 4px solid #7f0000; }
#rehearsal-banner strong { display: block; font-size: 24px; letter-spacing: .5px; }
#rehearsal-banner span { font-size: 13px; }
ol.plan { list-style: none; padding: 0; margin: 8px 0; }
ol.plan > li { margin: 0 0 14px; position: relative; }
ol.plan > li + li::before { content: "↓"; position: absolute; top: -15px; left: 14px; color: var(--muted);
  font-size: 12px; line-height: 12px; }
li.plan-stage { padding: 6px 10px; background: var(--soft); border-radius: 4px; }
li.plan-wave { border: 1px solid var(--line); border-left: 6px solid var(--accent); border-radius: 4px;
  padding: 6px 10px 2px; break-inside: avoid-page; }
.plan-wave-head { font-size: 14px; margin-bottom: 4px; }
.plan-wave-head .wave-no { font-weight: 700; } .plan-wave-head .wave-name { font-weight: 700; }
.plan-wave-head .wave-where, .plan-wave-head .wave-took { color: var(--muted); font-size: 12.5px; }
table.plan-steps { margin: 4px 0 6px; }
table.plan-steps td.step-kind { white-space: nowrap; color: var(--muted); }
table.plan-steps td.step-name { font-weight: 600; width: 16%; }
table.plan-steps td.step-what { width: 40%; }
table.plan-steps .step-when { width: 19%; }
.track { position: relative; height: 8px; background: #eef1f4; border-radius: 2px; margin: 3px 0 2px; }
.track .seg { position: absolute; top: 0; bottom: 0; min-width: 2px; border-radius: 2px; }
.track .seg.wait { opacity: .3; }
li.plan-stage .track { margin-top: 5px; }
.when-text { color: var(--muted); font-size: 11px; font-variant-numeric: tabular-nums; white-space: nowrap; }
section.appendix h2 { color: var(--muted); }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  section.page { break-before: page; } section.page:first-of-type { break-before: auto; }
  #rehearsal-banner { position: static; margin: 0 0 12px; }
  #rehearsal-banner + section.page { break-before: auto; }
  .wave-detail { break-inside: avoid-page; } tr { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def render(report: dict[str, Any]) -> str:
    """The whole page for a report's JSON (as `judge.complete` leaves it)."""
    rehearsal = not_on_aws(report)
    plan = report.get("planName") or report.get("planId") or ""
    title = f"DR {report['mode'].lower()} report: {plan}".strip()
    if rehearsal:
        title = f"{rehearsal_words(report)}: {title}"
    body = [
        _banner(report) if rehearsal else "",
        _summary(report),
        _timeline(report),
        _path(report),
        _waves(report),
        _steps(report),
        _cleanup(report),
        _figures(report),
        _state_machine(report),
    ]
    style = CSS + (_rehearsal_css(report) if rehearsal else "")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{esc(title)}</title><style>{style}</style></head>\n"
        f"<body{attrs(data_execution=report['executionId'], data_status=report['status'])}"
        f"{attrs(data_source=report.get('source'), data_rehearsal=rehearsal)}>\n"
        + "\n".join(part for part in body if part)
        + "\n</body></html>\n"
    )


NOT_ON_AWS = ("rehearsal", "sandbox")  # `source`: an emulated estate, not a drill on AWS


def not_on_aws(report: dict[str, Any]) -> bool:
    """A rehearsal (or a sandbox execution): its page must never pass for a drill on AWS. A report without `source`
    is a rehearsal's (older rehearsals wrote none; a deployed report always says so)."""
    return (report.get("source") or "rehearsal") in NOT_ON_AWS


def rehearsal_words(report: dict[str, Any]) -> str:
    """'REHEARSAL, not a drill on AWS' (or '... not a recovery on AWS')."""
    return f"REHEARSAL, not a {report['mode'].lower()} on AWS"


def _banner(report: dict[str, Any]) -> str:
    if report.get("source") == "sandbox":
        how = (
            "This execution ran in drsctl sandbox: the deployed definition and Lambdas against an emulated estate "
            "(the DRS emulator), on the sandbox's clock. No server was recovered on AWS."
        )
    else:
        how = (
            "drsctl rehearse ran this plan against an emulated estate (the DRS emulator and a local Step Functions "
            "engine) on a virtual clock. No server was recovered on AWS; its times are the rehearsal's."
        )
    return (
        f'<div id="rehearsal-banner" role="note"><strong>{esc(rehearsal_words(report))}</strong>'
        f"<span>{esc(how)}</span></div>"
    )


def _rehearsal_css(report: dict[str, Any]) -> str:
    """On every printed page: the words in the page's top margin, and a watermark behind the content."""
    words = rehearsal_words(report).replace('"', "")
    return (
        f'@page {{ @top-center {{ content: "{words}"; color: #b71c1c; font: 700 13pt system-ui, sans-serif; }} }}\n'
        '@media print { body::after { content: "REHEARSAL"; position: fixed; top: 42%; left: 0; right: 0;'
        " text-align: center; font: 800 110px system-ui, sans-serif; color: rgba(183, 28, 28, 0.10);"
        " transform: rotate(-28deg); pointer-events: none; } }\n"
    )


def _met(value: bool | None, target: float | None = None, why: str = "not judged") -> str:
    if target is None and value is None:
        return '<span class="none">no target</span>'
    if value is None:
        return f'<span class="none">{esc(why)}</span>'
    return '<span class="met">met</span>' if value else '<span class="missed">missed</span>'


def _figure(name: str, label: str, value: str, raw: Any = None, **extra: Any) -> str:
    return f"<div><dt>{esc(label)}</dt><dd{attrs(data_figure=name, data_value=raw, **extra)}>{value}</dd></div>"


def _target(seconds: float | None, option: str) -> str:
    if seconds is None:
        return f'<span class="none">none set (Options.{option})</span>'
    return duration(seconds)


def _summary(report: dict[str, Any]) -> str:
    counts, rto, rpo = report["serverCounts"], report["rto"], report["rpo"]
    tone = "good" if report["status"] == "COMPLETED" else "mixed" if report["status"] == "PARTIAL" else "bad"
    if rto["met"] is False or rpo["met"] is False:
        tone = "bad" if tone == "bad" else "mixed"
    plan = report.get("planName") or report.get("planId") or "-"
    recovered = report["status"] in RECOVERED and rto["achievedSeconds"] is not None
    rto_text = f"{_target(rto['targetSeconds'], 'RtoTargetMinutes')}: {_met(rto['met'], rto['targetSeconds'])}"
    rpo_why = f"not judged: {rpo_unjudged_reason(report)}"
    rpo_text = f"{_target(rpo['targetSeconds'], 'RpoTargetMinutes')}: {_met(rpo['met'], rpo['targetSeconds'], rpo_why)}"
    if rpo["worstSeconds"] is not None:
        rpo_text += f" (worst {duration(rpo['worstSeconds'])})"
    generated = report.get("generatedAt")
    figures = [
        _figure("plan", "plan", f"{esc(plan)} <code>{esc(report.get('planId') or '')}</code>", report.get("planId")),
        _figure(
            "plan-version",
            "plan version",
            f"<code>{esc(report['planVersion'])}</code>" if report.get("planVersion") else _NOT_RECORDED,
            report.get("planVersion"),
        ),
        _figure("mode", "mode", esc(report["mode"]), report["mode"]),
        _figure(
            "started-by",
            "started by",
            _who(report.get("startedBy"))
            + (f'<span class="how">{esc(_how(report))}</span>' if report.get("startedBy") else ""),
            report.get("startedBy"),
            data_source=report.get("startedBySource"),
        ),
        _figure("start", "started (UTC)", esc(_full(report.get("startTime"))), report.get("startTime")),
        _figure(
            "end",
            "ended (UTC)",
            esc(_full(report.get("endTime"))) if report.get("endTime") else "still running",
            report.get("endTime"),
        ),
        _figure(
            "status",
            "status",
            f'<span class="status" style="color:{colour(report["status"])}">{esc(report["status"])}</span>',
            report["status"],
        ),
        _figure(
            "recovered",
            "recovered at (the RTO's measure)",
            f"{clock(rto['achievedSeconds'])} ({duration(rto['achievedSeconds'])})" if recovered else "not recovered",
            rto["achievedSeconds"] if recovered else None,
        ),
        _figure(
            "rto",
            "RTO target",
            rto_text,
            rto["targetSeconds"],
            data_met=rto["met"],
            data_achieved=rto["achievedSeconds"],
        ),
        _figure(
            "rpo",
            "RPO target (worst server)",
            rpo_text,
            rpo["targetSeconds"],
            data_met=rpo["met"],
            data_achieved=rpo["worstSeconds"],
        ),
        _figure("launched", "servers launched", f"{counts['launched']:,} of {counts['total']:,}", counts["launched"]),
        _figure("failed", "servers failed", f"{counts['failed']:,}", counts["failed"]),
        _figure("skipped", "servers skipped", f"{counts['skipped']:,}", counts["skipped"]),
        _figure("makespan", "execution ran", _ran(report), report["makespanSeconds"]),
        _figure(
            "generated",
            "report generated",
            f"{esc(sentences.utc(sentences.parse_iso(generated)))} by {esc(report.get('generator') or 'drsctl')}"
            if generated
            else _NOT_RECORDED,
            generated,
        ),
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
        f"({esc(_source_words(report))})</p>"
        f'<p id="verdict" class="{tone}">{esc(report["verdict"])}</p>'
        f'<dl class="figures">{"".join(figures)}</dl>{_time_split(report)}{_rpo_measure(report)}{extra}'
        f"{_audit(report)}</section>"
    )


_NOT_RECORDED = '<span class="none">not recorded</span>'


def _full(iso: Any) -> str:
    """An ISO 8601 time as '2026-01-01 00:00:00 UTC' (date included)."""
    return sentences.utc(sentences.parse_iso(iso))


def _who(principal: str | None) -> str:
    """An AWS identity (an ARN), breakable only after its `:` and `/` (never inside an account ID or a name)."""
    if not principal:
        return _NOT_RECORDED
    breakable = esc(principal).replace(":", ":<wbr>").replace("/", "/<wbr>")
    return f'<span class="id principal">{breakable}</span>'


def _how(report: dict[str, Any]) -> str:
    return sentences.HOW_STARTED_BY_IS_KNOWN.get(str(report.get("startedBySource")), "")


def _source_words(report: dict[str, Any]) -> str:
    return {
        "deployed": "a deployed stack on AWS: built by drsctl run report from its records",
        "sandbox": "drsctl sandbox: not on AWS",
        "rehearsal": "a rehearsal: not on AWS",
    }.get(str(report.get("source") or "rehearsal"), str(report.get("source")))


def _ran(report: dict[str, Any]) -> str:
    """How long the execution ran, and how much of it was the drill cleanup (not part of the recovery); a cleanup
    `drsctl run cleanup` ran after the execution had ended is none of it."""
    ran = duration(report["makespanSeconds"])
    cleanup = report.get("cleanup") or {}
    first = cleanup.get("waitStartedAt") if cleanup.get("waitStartedAt") is not None else cleanup.get("startedAt")
    if first is None or cleanup.get("endedAt") is None or sentences.cleanup_after_the_end(report):
        return ran
    return f"{ran}, of which drill cleanup {duration(float(cleanup['endedAt']) - float(first))}"


def _time_split(report: dict[str, Any]) -> str:
    """Why the execution ran longer than the RTO's measure: what came after the recovery (Finalize, the cleanup)."""
    rto = report["rto"]
    recovered = rto.get("achievedSeconds")
    if report["status"] not in RECOVERED or recovered is None:
        return ""
    times = sentences.Clock(report)
    said = (
        f"The RTO is measured to the last wave's recovery (its launch and the steps after it): {clock(recovered)} "
        f"({times.text(recovered)})."
    )
    after = float(report["makespanSeconds"]) - float(recovered)
    cleanup = report.get("cleanup")
    late = sentences.cleanup_after_the_end(report)
    if cleanup and after > 0 and not late:
        said += (
            f" The execution ran {duration(after)} longer for the drill cleanup, shown apart: "
            f"{sentences.cleanup(report, times)}"
        )
    elif after >= 1:
        said += f" The execution ended {duration(after)} later (recording the results)."
    if cleanup and late:
        said += f" The drill cleanup came after the execution, shown apart: {sentences.cleanup(report, times)}"
    return f'<p id="time-split">{esc(said)}</p>'


def _rpo_measure(report: dict[str, Any]) -> str:
    """How the RPO is measured, and which server is the worst: the sentence beside the RTO's."""
    rpo = report["rpo"]
    said = (
        "The RPO is measured per launched server: how old the recovery point it was launched from was when its "
        "StartRecovery was called (the data a recovery from it would lose; 0s: a snapshot DRS took for the launch)."
    )
    if report.get("pointInTime"):
        said += (
            f" Point-in-time recovery to {sentences.utc(sentences.parse_iso(report['pointInTime']))}: each server "
            "was launched from its newest snapshot at or before that moment."
        )
    worst = _worst_server(report)
    if worst is None:
        said += f" Not judged: {rpo_unjudged_reason(report)}."
    else:
        number, wave, server = worst
        host = f" ({server['hostname']})" if server.get("hostname") else ""
        said += (
            f" Worst: {duration(server['rpoSeconds'])}, {server['sourceServerId']}{host} of wave {number} "
            f"({wave['name']})"
        )
        target = rpo.get("targetSeconds")
        said += f"; the target, {duration(target)}, is {'met' if rpo['met'] else 'missed'}." if target else "."
    return f'<p id="rpo-measure">{esc(said)}</p>'


def _worst_server(report: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
    found = None
    for index, wave in enumerate(report["waves"], start=1):
        for server in wave["servers"]:
            if server.get("rpoSeconds") is not None and (
                found is None or server["rpoSeconds"] > found[2]["rpoSeconds"]
            ):
                found = (wave_number(wave, index), wave, server)
    return found


def _audit(report: dict[str, Any]) -> str:
    """Who did what, and when, in UTC: the start, each approval, a cancel, the end, the cleanup, the report."""
    times = sentences.Clock(report)
    events: list[tuple[str, str, str]] = []  # (ISO time or "", event, sentence)

    def add(moment: Any, event: str, text: str) -> None:
        at = moment.isoformat() if moment is not None else ""
        events.append((at, event, text))

    who = sentences.started_by(report)
    add(times.at(0), "started", f"The execution {who}." if report.get("startedBy") else f"Started; {who}.")
    for index, wave in enumerate(report["waves"], start=1):
        for step in wave.get("steps") or []:
            if step["kind"] != "Approval":
                continue
            where = f"{'before' if step['phase'] == 'BEFORE' else 'after'} wave {wave_number(wave, index)}"
            text = (
                f"Approval {sentences.quoted(step['name'])} {where} ({wave['name']}): {sentences.approval(step, times)}"
            )
            add(times.at(step.get("startedAt")), "approval", text)
    if report.get("cancelledBy") or report.get("cancelReason") or report["status"] == "CANCELLED":
        who = report.get("cancelledBy") or "an operator whose identity was not recorded"
        why = f": {sentences.quoted(report['cancelReason'])}" if report.get("cancelReason") else ", no reason recorded"
        add(
            sentences.parse_iso(report.get("cancelledAt")) or times.at(report["makespanSeconds"]),
            "cancelled",
            f"Cancelled by {who}{why}.",
        )
    if report.get("endTime"):
        add(sentences.parse_iso(report["endTime"]), "ended", f"The execution ended {report['status']}.")
    cleanup = report.get("cleanup")
    if cleanup and cleanup.get("startedAt") is not None:
        add(times.at(cleanup["startedAt"]), "cleanup", f"Drill cleanup: {sentences.cleanup(report, times)}")
    if report.get("generatedAt"):
        add(
            sentences.parse_iso(report["generatedAt"]),
            "generated",
            f"This report was generated by {report.get('generator') or 'drsctl'}.",
        )
    items = "".join(
        f'<li class="audit-event"{attrs(data_event=event, data_at=at or None)}>'
        f'<span class="at">{esc(sentences.utc(sentences.parse_iso(at)) if at else "time not recorded")}</span> '
        f"{esc(text)}</li>"
        for at, event, text in sorted(events, key=lambda e: (e[0] == "", e[0]))
    )
    return f'<h3>Who did what, and when (UTC)</h3><ol id="audit">{items}</ol>'


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
        '<section id="path" class="page"><h2>Path taken: the plan as it ran</h2><p class="note">Each wave in plan '
        "order and, in it, each step in the order it ran: the steps before the launch, the DRS launch, the steps "
        "after it. What each did, how long it took, how often its task was retried, and where in the execution it "
        f"ran (the bar; the whole row is the whole execution).</p>{planview.render(report)}</section>"
    )


def _state_machine(report: dict[str, Any]) -> str:
    return (
        '<section id="state-machine" class="page appendix"><h2>Appendix B: the state machine</h2>'
        "<details><summary>The deployed state machine, drawn from its definition: states the execution entered "
        "highlighted with how many times (&#215;N), transitions it took solid with their count (for the developers)"
        f"</summary>{graph.render(report)}</details></section>"
    )


def _waves(report: dict[str, Any]) -> str:
    parts = ['<section id="waves" class="page"><h2>Waves and servers</h2>']
    rto_target, rpo_target = report["rto"]["targetSeconds"], report["rpo"]["targetSeconds"]
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
            f"<td{attrs(class_='rto', data_met=wave['rto']['met'])}>{_recovered_at(wave)}"
            f"{_met(wave['rto']['met'], rto_target, _unjudged(wave, 'recovered'))}</td>"
            f"<td{attrs(class_='rpo', data_met=wave['rpo']['met'])}>{_worst(wave['rpo']['worstSeconds'])}"
            f"{_met(wave['rpo']['met'], rpo_target, _unjudged(wave, 'launched'))}</td></tr>"
        )
    parts.append(
        '<table id="wave-summary"><thead><tr><th>#</th><th>wave</th><th>status</th><th>launched</th><th>started</th>'
        "<th>ended</th><th>RTO (recovered at)</th><th>RPO (worst)</th></tr></thead><tbody>"
        + "".join(summary_rows)
        + "</tbody></table>"
    )
    parts.append(_accounts(report))
    for index, wave in enumerate(report["waves"], start=1):
        parts.append(_wave_detail(wave, wave_number(wave, index), many_accounts=len(report.get("accounts") or []) > 1))
    parts.append("</section>")
    return "".join(parts)


def _accounts(report: dict[str, Any]) -> str:
    """A point-in-time recovery's moment, and the servers per account when they are in several (a server is known
    by its account, Region and ID)."""
    parts = []
    if report.get("pointInTime"):
        skew = report.get("snapshotSkewSeconds")
        parts.append(
            f'<p id="point-in-time" class="note">Recovered to {esc(report["pointInTime"])}: each server from its '
            f"newest recovery snapshot at or before it"
            + (f" (the snapshots chosen {duration(skew)} apart)" if skew is not None else "")
            + ".</p>"
        )
    accounts = report.get("accounts") or []
    if len(accounts) > 1:
        rows = "".join(
            f"<tr{attrs(class_='account-row', data_account=a['account'])}>"
            f'<td class="id">{esc(a["account"] or "-")}</td>'
            f'<td>{esc(", ".join(a["regions"]))}</td><td class="num">{a["launched"]:,}/{a["servers"]:,}</td>'
            f'<td class="num">{a["failed"]:,}</td><td class="num">{a["skipped"]:,}</td>'
            f'<td class="num">{duration(a["worstRpoSeconds"])}</td></tr>'
            for a in accounts
        )
        parts.append(
            '<table id="accounts"><thead><tr><th>account</th><th>regions</th><th>launched</th><th>failed</th>'
            f"<th>skipped</th><th>RPO (worst)</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return "".join(parts)


def _worst(seconds: float | None) -> str:
    return "" if seconds is None else f"{duration(seconds)} "


def _recovered_at(wave: dict[str, Any]) -> str:
    at = wave["rto"]["achievedSeconds"]
    if at is not None:
        return f"{clock(at)} "
    return "" if wave["status"] == "SKIPPED" else "not recovered: "


def _unjudged(wave: dict[str, Any], what: str) -> str:
    """Why a wave's target was not judged although the plan set one."""
    if wave["status"] == "SKIPPED":
        return "not judged: skipped"
    return f"not judged: nothing {what}" if what == "launched" else f"not judged: {wave['status'].lower()}"


def _wave_detail(wave: dict[str, Any], number: int, *, many_accounts: bool = False) -> str:
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
    rows = "".join(_server_row(server, many_accounts) for server in wave["servers"])
    where = "<th>account</th><th>region</th>" if many_accounts else ""
    table = (
        f'<table class="servers"><thead><tr><th>source server</th>{where}<th>hostname</th><th>status</th>'
        "<th>DRS job</th><th>recovery instance</th><th>started</th><th>launched</th><th>recovery point</th><th>RPO</th>"
        f"<th>failure reason</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    return f"<section{values}>{head}{table}</section>"


def _server_row(server: dict[str, Any], many_accounts: bool = False) -> str:
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
        + (
            cell("account", esc(server.get("account") or "-"), "id") + cell("region", esc(server.get("region") or "-"))
            if many_accounts
            else ""
        )
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
    times = sentences.Clock(report)
    rows = []
    approvals = 0
    for index, wave in enumerate(report["waves"], start=1):
        number = wave_number(wave, index)
        for step in wave.get("steps") or []:
            approval = step["kind"] == "Approval"
            approvals += approval
            shown = planview.APPROVAL_WORDS.get(step["status"], step["status"]) if approval else step["status"]
            rows.append(
                f"<tr{attrs(class_='approval step-row' if approval else 'step-row', data_wave=number)}"
                f"{attrs(data_kind=step['kind'], data_status=step['status'], data_decided_by=step.get('decidedBy'))}"
                f"{attrs(data_decision=step.get('decision'), data_decided_at=step.get('decidedAt'))}>"
                f"<td>{number} {esc(wave['name'])}</td><td>{esc(step['phase'].lower())}</td>"
                f"<td>{esc(step['kind'])}</td>"
                f"<td>{esc(step['name'])}</td>"
                f'<td class="status" style="color:{colour(step["status"])}">{esc(shown.replace("_", " "))}</td>'
                f'<td class="who">{_who(step.get("decidedBy")) if approval else ""}</td>'
                f'<td class="num">{_when(times, step.get("startedAt"))}</td>'
                f'<td class="num">{_when(times, step.get("endedAt"))}</td>'
                f'<td class="said">{esc(sentences.step(step, times))}</td></tr>'
            )
    body = (
        '<table id="steps"><thead><tr><th>wave</th><th>phase</th><th>kind</th><th>step</th><th>outcome</th>'
        "<th>decided by</th><th>started (UTC)</th><th>ended (UTC)</th><th>what happened</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else '<p class="note">The plan has no runbook steps.</p>'
    )
    return (
        f'<section id="approvals" class="page"{attrs(data_steps=len(rows), data_approvals=approvals)}>'
        f"<h2>Approvals and runbook steps</h2>{body}</section>"
    )


def _when(times: sentences.Clock, seconds: Any) -> str:
    """The absolute time (UTC) and, below it, the time from the start."""
    if seconds is None:
        return "-"
    return f'{esc(times.text(seconds))}<br><span class="rel">{clock(seconds)}</span>'


def _cleanup(report: dict[str, Any]) -> str:
    times = sentences.Clock(report)
    cleanup = report.get("cleanup")
    said = f'<p class="cleanup-said">{esc(sentences.cleanup(report, times))}</p>'
    if not cleanup:
        return f'<section id="cleanup" class="page" data-status="NONE"><h2>Cleanup</h2>{said}</section>'
    terminated = cleanup.get("terminated") or []
    jobs = ", ".join(f'<code class="job-id">{esc(job)}</code>' for job in cleanup.get("jobIds") or []) or "none"
    items = "".join(f'<li class="terminated"{attrs(data_instance=i)}><code>{esc(i)}</code></li>' for i in terminated)
    return (
        '<section id="cleanup" class="page"'
        f"{attrs(data_status=cleanup.get('status'), data_terminated=len(terminated))}>"
        f'<h2>Cleanup</h2><p>Status <span class="status" style="color:{colour(cleanup.get("status"))}">'
        f"{esc(cleanup.get('status'))}</span>, from {_when(times, cleanup.get('startedAt')).replace('<br>', ' ')} to "
        f"{_when(times, cleanup.get('endedAt')).replace('<br>', ' ')}; DRS jobs: {jobs}.</p>{said}"
        + (
            f'<p class="cleanup-detail">{esc(cleanup["detail"])}</p>'
            if cleanup.get("detail") and cleanup.get("status") != "COMPLETED"  # why it failed or kept them
            else ""
        )
        + (
            f"<details open><summary>{len(terminated):,} recovery instance(s) terminated</summary><ul>{items}</ul>"
            "</details>"
            if terminated
            else ""
        )
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
        '<section id="figures" class="page appendix"><h2>Appendix A: figures for the developers</h2>'
        "<details><summary>How the orchestration itself behaved: DRS's critical path, overhead, history events, "
        "Lambda invocations, payload and item sizes (not part of the audit)</summary>"
        f'<table id="figures-table"><tbody>{rows}</tbody></table></details></section>'
    )
