"""The timeline: one row per wave, its runbook steps, and its servers from StartRecovery to launch, as inline SVG.

A wave of up to SERVER_BARS_MAX servers gets one bar per server. A larger wave gets a density strip instead: how
many of its servers launched in each slice of time (a histogram over the same time axis), and one bar that splits
the wave's servers by outcome; 2,000 bars would be neither readable nor small.
"""

from __future__ import annotations

import math
from typing import Any

from drsctl.report.judge import wave_number
from drsctl.report.svg import attrs, clock, colour, esc

SERVER_BARS_MAX = 40
WIDTH = 1100
LABEL = 220  # the left column: wave, step and server names
RIGHT = 36  # room for the last tick's label, centred on the axis's end
TOP = 28  # room for the axis labels
WAVE_ROW = 18
STEP_ROW = 13
SERVER_ROW = 11
DENSITY_ROW = 34
SUMMARY_ROW = 12
GAP = 10
BINS = 100  # slices of the time axis in a density strip
OUTCOME_ORDER = ("LAUNCHED", "FAILED", "TIMED_OUT", "UNKNOWN", "SKIPPED")


def span_end(report: dict[str, Any]) -> float:
    """The time axis runs to the latest thing drawn: the makespan, the RTO target, a step or a cleanup."""
    ends = [float(report.get("makespanSeconds") or 0), float(report["rto"].get("targetSeconds") or 0)]
    cleanup = report.get("cleanup") or {}
    ends += [float(cleanup.get("endedAt") or 0), float(cleanup.get("startedAt") or 0)]
    for wave in report["waves"]:
        ends += [float(wave.get("endedAt") or 0)]
        ends += [float(step.get("endedAt") or 0) for step in wave.get("steps", [])]
        ends += [float(s.get("launchedAt") or 0) for s in wave["servers"]]
    return max(max(ends) * 1.02, 60.0)


def render(report: dict[str, Any]) -> str:
    total = span_end(report)
    plot = WIDTH - LABEL - RIGHT

    def x(seconds: float | None) -> float:
        return LABEL + max(0.0, min(float(seconds or 0), total)) / total * plot

    rows: list[str] = []
    y: float = TOP
    for index, wave in enumerate(report["waves"], start=1):
        block, height = _wave(wave, wave_number(wave, index), y, x, total)
        rows.append(block)
        y += height + GAP
    if report.get("cleanup"):
        rows.append(_cleanup(report["cleanup"], y, x, total))
        y += WAVE_ROW + GAP
    bottom = y + 4
    parts = [
        f'<svg id="gantt" role="img" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {bottom:.0f}"'
        f"{attrs(data_span_seconds=round(total, 1))}>",
        "<title>Timeline: waves, runbook steps and servers over time</title>",
        _axis(total, x, bottom),
        *rows,
        _rto_line(report, x, bottom),
        "</svg>",
    ]
    return "\n".join(part for part in parts if part)


def _wave(wave: dict[str, Any], number: int, y: float, x: Any, total: float) -> tuple[str, float]:
    status = wave["status"]
    top = y
    out = [
        f'<g class="wave"{attrs(id=f"gantt-wave-{number}", data_wave=number, data_name=wave["name"])}'
        f"{attrs(data_status=status)}>"
    ]
    label = f"{number} {wave['name']}"
    out.append(f'<text class="label wave-label" x="4" y="{y + 13:.1f}">{esc(_fit(label, 34))}</text>')
    start, end = wave.get("startedAt"), wave.get("endedAt")
    if start is not None:
        width = max(x(end if end is not None else total) - x(start), 1.5)
        out.append(
            f'<rect class="wave-bar"{attrs(x=round(x(start), 1), y=y + 2, width=round(width, 1), height=WAVE_ROW - 4)}'
            f"{attrs(fill=colour(status), data_start=start, data_end=end)}>"
            f"<title>{esc(label)}: {esc(status)} {clock(start)} to {clock(end)}</title></rect>"
        )
    else:
        out.append(f'<text class="note" x="{LABEL + 4}" y="{y + 13:.1f}">{esc(status)}: not started</text>')
    y += WAVE_ROW
    for step in wave.get("steps", []):
        out.append(_step(step, y, x, total))
        y += STEP_ROW
    servers = wave["servers"]
    if len(servers) <= SERVER_BARS_MAX:
        for server in servers:
            out.append(_server(server, wave, y, x))
            y += SERVER_ROW
    else:
        block, used = _density(servers, y, x, total)
        out.append(block)
        y += used
    out.append("</g>")
    return "\n".join(out), y - top


def _cleanup(cleanup: dict[str, Any], y: float, x: Any, total: float) -> str:
    """The drill cleanup as a last row: from its start to its end, coloured by how it ended."""
    count = len(cleanup.get("terminated") or [])
    label = f"cleanup: {count:,} instance(s)"
    start, end = cleanup.get("startedAt"), cleanup.get("endedAt")
    out = [f'<g id="gantt-cleanup"{attrs(class_="cleanup", data_status=cleanup.get("status"), data_terminated=count)}>']
    out.append(f'<text class="label wave-label" x="4" y="{y + 13:.1f}">{esc(label)}</text>')
    if start is not None:
        width = max(x(end if end is not None else total) - x(start), 1.5)
        out.append(
            f"<rect{attrs(x=round(x(start), 1), y=y + 2, width=round(width, 1), height=WAVE_ROW - 4)}"
            f"{attrs(fill=colour(cleanup.get('status')), data_start=start, data_end=end)}>"
            f"<title>{esc(label)}: {esc(cleanup.get('status'))} {clock(start)} to {clock(end)}</title></rect>"
        )
    out.append("</g>")
    return "".join(out)


def _step(step: dict[str, Any], y: float, x: Any, total: float) -> str:
    start, end = step.get("startedAt"), step.get("endedAt")
    label = f"{step['phase'].lower()}: {step['name']} ({step['kind']})"
    values = attrs(
        class_="step",
        data_kind=step["kind"],
        data_phase=step["phase"],
        data_status=step["status"],
        data_name=step["name"],
        data_start=start,
        data_end=end,
    )
    text = f'<text class="label step-label" x="14" y="{y + 9.5:.1f}">{esc(_fit(label, 40, 14))}</text>'
    if start is None:
        return f"<g{values}>{text}</g>"
    width = max(x(end if end is not None else total) - x(start), 2.0)
    return (
        f"<g{values}>{text}<rect{attrs(x=round(x(start), 1), y=y + 2, width=round(width, 1), height=STEP_ROW - 4)}"
        f"{attrs(fill=colour(step['status']), rx=2)}><title>{esc(label)}: {esc(step['status'])} "
        f"{clock(start)} to {clock(end)}</title></rect></g>"
    )


def _server(server: dict[str, Any], wave: dict[str, Any], y: float, x: Any) -> str:
    outcome = server["status"]
    name = server.get("hostname") or server["sourceServerId"]
    start = server.get("startedAt")
    end = server.get("launchedAt") if outcome == "LAUNCHED" else wave.get("endedAt")
    text = f'<text class="label server-label" x="24" y="{y + 9:.1f}">{esc(_fit(name, 38, 24))}</text>'
    values = attrs(class_="server", data_server=server["sourceServerId"], data_outcome=outcome)
    if start is None:
        return f"<g{values}>{text}</g>"
    width = max(x(end if end is not None else start) - x(start), 1.5)
    return (
        f"<g{values}>{text}<rect{attrs(x=round(x(start), 1), y=y + 2, width=round(width, 1), height=SERVER_ROW - 3)}"
        f"{attrs(fill=colour(outcome), data_start=start, data_end=end)}><title>{esc(name)} "
        f"({esc(server['sourceServerId'])}): {esc(outcome)} {clock(start)} to {clock(end)}</title></rect></g>"
    )


def _density(servers: list[dict[str, Any]], y: float, x: Any, total: float) -> tuple[str, float]:
    """A histogram of launch times over the time axis, and one bar splitting the servers by outcome."""
    counts = [0] * BINS
    for server in servers:
        launched = server.get("launchedAt")
        if server["status"] == "LAUNCHED" and launched is not None:
            counts[max(0, min(BINS - 1, int(float(launched) / total * BINS)))] += 1  # a hand-edited time
    peak = max(counts) or 1
    bin_width = (x(total) - x(0)) / BINS
    outcomes: dict[str, int] = {}
    for server in servers:
        outcomes[server["status"]] = outcomes.get(server["status"], 0) + 1
    summary = ", ".join(f"{count:,} {status.lower()}" for status, count in by_outcome(outcomes))
    out = [
        f'<g class="density"{attrs(data_servers=len(servers), data_peak=peak)}>',
        f'<text class="label server-label" x="24" y="{y + 14:.1f}">{len(servers):,} servers:</text>',
        f'<text class="label server-label" x="24" y="{y + 26:.1f}">launches over time</text>',
        f'<line class="baseline" x1="{x(0):.1f}" x2="{x(total):.1f}" y1="{y + DENSITY_ROW:.1f}" '
        f'y2="{y + DENSITY_ROW:.1f}"/>',
    ]
    for index, count in enumerate(counts):
        if not count:
            continue
        height = max(1.5, count / peak * (DENSITY_ROW - 2))
        start = index * total / BINS
        out.append(
            f'<rect class="bin"{attrs(x=round(x(start), 1), y=round(y + DENSITY_ROW - height, 1))}'
            f"{attrs(width=round(max(bin_width - 0.5, 0.8), 1), height=round(height, 1), fill=colour('LAUNCHED'))}"
            f"{attrs(data_count=count, data_start=round(start, 1), data_end=round(start + total / BINS, 1))}>"
            f"<title>{count:,} launched between {clock(start)} and {clock(start + total / BINS)}</title></rect>"
        )
    y += DENSITY_ROW + 4
    out.append(f'<text class="label server-label" x="24" y="{y + 10:.1f}">{esc(_fit(summary, 40, 24))}</text>')
    left = x(0)
    plot = x(total) - x(0)
    for status, count in by_outcome(outcomes):
        width = count / len(servers) * plot
        out.append(
            f'<rect class="outcome-share"{attrs(x=round(left, 1), y=round(y + 2, 1), width=round(width, 1))}'
            f"{attrs(height=SUMMARY_ROW - 2, fill=colour(status), data_outcome=status, data_count=count)}>"
            f"<title>{count:,} {esc(status)}</title></rect>"
        )
        left += width
    out.append("</g>")
    return "\n".join(out), DENSITY_ROW + SUMMARY_ROW + 16


def by_outcome(outcomes: dict[str, int]) -> list[tuple[str, int]]:
    rank = {status: index for index, status in enumerate(OUTCOME_ORDER)}
    return sorted(outcomes.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def _axis(total: float, x: Any, height: float) -> str:
    step = _tick(total)
    out = ['<g class="axis">']
    tick = 0.0
    while tick <= total + 0.001:
        px = x(tick)
        out.append(
            f'<line class="tick" x1="{px:.1f}" x2="{px:.1f}" y1="{TOP - 6}" y2="{height - 4:.1f}"/>'
            f'<text class="tick-label" x="{px:.1f}" y="{TOP - 10}" text-anchor="middle">{clock(tick)[1:]}</text>'
        )
        tick += step
    out.append("</g>")
    return "".join(out)


def _tick(total: float) -> float:
    """A round interval giving about 8 ticks: 1, 2, 5, 10, 15, 30 minutes, 1, 2, 3, 6, 12 hours..."""
    for minutes in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440):
        if total / (minutes * 60) <= 10:
            return minutes * 60.0
    return math.ceil(total / 10 / 86400) * 86400.0


def _rto_line(report: dict[str, Any], x: Any, height: float) -> str:
    target = report["rto"].get("targetSeconds")
    if target is None:
        return ""
    px = x(target)
    return (
        f'<g id="rto-target"{attrs(data_seconds=target, data_met=report["rto"].get("met"))}>'
        f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP - 6}" y2="{height - 4:.1f}"/>'
        f'<text x="{px - 4:.1f}" y="{height - 8:.1f}" text-anchor="end">RTO target {clock(target)[1:]}</text></g>'
    )


# What a label's column holds at the labels' font (11 px): about 6.4 px a character on average (W-heavy names more)
LABEL_CHAR_PX = 6.4


def _fit(text: str, limit: int, indent: float = 4) -> str:
    """At most `limit` characters, and no more than the label column holds from `indent` (a long hostname or a name of
    wide letters must not run under the bars)."""
    room = int((LABEL - indent - 6) / LABEL_CHAR_PX)
    limit = min(limit, room)
    return text if len(text) <= limit else text[: limit - 1] + "…"
