"""The path taken: the state machine's graph, drawn from its definition as inline SVG, with the states the execution
entered highlighted and how many times each was entered (a loop's states show how often it turned).

Layout, kept simple on purpose: states in rows by their distance from the start of their machine (breadth first),
a Map or Parallel state drawn as a box holding its own machine's rows. A transition to a row below is a straight
arrow; one back up (a loop) or across is a curve on the right. Transitions the execution took are drawn solid
with their count.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from drsctl.report.svg import attrs, esc, slug

NODE_W = 172
NODE_H = 34
H_GAP = 16
V_GAP = 30
PAD = 14
HEADER = 26
CHARS_PER_LINE = 28
ROW_MAX = 5  # states side by side at most; a wider rank is folded onto more rows


@dataclass
class Box:
    name: str
    x: float = 0.0
    y: float = 0.0
    w: float = NODE_W
    h: float = NODE_H
    children: list[list[Box]] = field(default_factory=list)  # rows of a nested machine


def render(report: dict[str, Any]) -> str:
    machine = report.get("stateMachine")
    if not machine or not machine.get("states"):
        return '<p class="note" id="state-graph-missing">This report carries no state machine definition.</p>'
    states = {state["name"]: state for state in machine["states"]}
    counts: dict[str, int] = report.get("stateCounts") or {}
    taken = {(t["from"], t["to"]): t["count"] for t in report.get("transitionCounts") or []}
    rows = _layout(states, None, machine["startAt"], counts, set())
    width = max((_row_width(row) for row in rows), default=NODE_W) + 2 * PAD
    height = _place(rows, PAD, PAD, width - 2 * PAD) + PAD
    boxes = {box.name: box for box in _all(rows)}
    parts = [
        f'<svg id="state-graph" role="img" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}"'
        f"{attrs(data_states=len(states), data_entered=sum(1 for name in states if counts.get(name)))}>",
        "<title>The state machine, with the states this execution entered highlighted</title>",
        "<defs>",
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-head"/></marker>',
        '<marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-head taken"/></marker>',
        "</defs>",
    ]
    parts += [_node(boxes[name], states[name], counts.get(name, 0)) for name in _containers_first(boxes, states)]
    for name, state in states.items():
        for edge in state["next"]:
            if name in boxes and edge["to"] in boxes:  # a hand-edited report may name states not drawn
                parts.append(_edge(boxes[name], boxes[edge["to"]], edge["how"], taken.get((name, edge["to"]), 0)))
    parts.append("</svg>")
    return "\n".join(parts)


def _layout(
    states: dict[str, dict[str, Any]], parent: str | None, start: str, counts: dict[str, int], inside: set[str]
) -> list[list[Box]]:
    """Rows of boxes for the machine whose states have this parent, in breadth-first order from its start; in a rank
    too wide for one row, the states the execution entered come first, so the path taken stays together."""
    members = [name for name, state in states.items() if state["parent"] == parent]
    depth = {start: 0} if start in members else {}
    queue = deque(depth)
    while queue:
        name = queue.popleft()
        for edge in states[name]["next"]:
            target = edge["to"]
            if target in members and target not in depth:
                depth[target] = depth[name] + 1
                queue.append(target)
    deepest = max(depth.values(), default=-1)
    for name in members:  # states reached from nowhere (should not happen in a valid definition) go last
        depth.setdefault(name, deepest + 1)
    rows: list[list[Box]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in members:
        box = Box(name)
        nested = _nested_start(states, name)
        if nested is not None and name not in inside:  # a report naming a state its own parent is drawn flat
            box.children = _layout(states, name, nested, counts, inside | {name})
            box.w = max((_row_width(row) for row in box.children), default=NODE_W) + 2 * PAD
            box.h = HEADER + _rows_height(box.children) + PAD
        rows[depth[name]].append(box)
    folded = []
    for row in rows:
        if len(row) > ROW_MAX:
            row.sort(key=lambda box: 0 if counts.get(box.name) else 1)  # stable: definition order otherwise
        folded += [row[i : i + ROW_MAX] for i in range(0, len(row), ROW_MAX)]
    return folded


def _nested_start(states: dict[str, dict[str, Any]], parent: str) -> str | None:
    return next((name for name, state in states.items() if state["parent"] == parent and state["start"]), None)


def _row_width(row: list[Box]) -> float:
    return sum(box.w for box in row) + H_GAP * (len(row) - 1)


def _rows_height(rows: list[list[Box]]) -> float:
    return sum(max(box.h for box in row) for row in rows) + V_GAP * (len(rows) - 1)


def _place(rows: list[list[Box]], left: float, top: float, width: float) -> float:
    """Give each box its position (rows centred in `width`); returns the bottom of the last row."""
    y = top
    for row in rows:
        x = left + (width - _row_width(row)) / 2
        tallest = max(box.h for box in row)
        for box in row:
            box.x, box.y = x, y
            if box.children:
                _place(box.children, x + PAD, y + HEADER, box.w - 2 * PAD)
            x += box.w + H_GAP
        y += tallest + V_GAP
    return y - V_GAP


def _all(rows: list[list[Box]]) -> list[Box]:
    found = []
    for row in rows:
        for box in row:
            found.append(box)
            found += _all(box.children)
    return found


def _containers_first(boxes: dict[str, Box], states: dict[str, dict[str, Any]]) -> list[str]:
    """Draw a Map's box before the states inside it, so they are on top."""
    return sorted(boxes, key=lambda name: 0 if boxes[name].children else 1)


def _node(box: Box, state: dict[str, Any], entered: int) -> str:
    classes = "state entered" if entered else "state not-entered"
    if box.children:
        classes += " container"
    kind = state["type"]
    values = attrs(
        class_=classes,
        id=f"state-{slug(box.name)}",
        data_state=box.name,
        data_type=kind,
        data_entered=entered,
        data_parent=state.get("parent"),
    )
    shape = f"<rect{attrs(x=round(box.x, 1), y=round(box.y, 1), width=round(box.w, 1), height=round(box.h, 1))}"
    shape += ' rx="14"/>' if kind in ("Choice",) else ' rx="4"/>'
    lines = _wrap(box.name) if not box.children else [box.name]
    text_y = box.y + (15 if box.children else box.h / 2 - (len(lines) - 1) * 6 + 4)
    text = "".join(
        f'<text class="state-name" x="{box.x + (10 if box.children else box.w / 2):.1f}" y="{text_y + 12 * i:.1f}"'
        f"{attrs(text_anchor='start' if box.children else 'middle')}>{esc(line)}</text>"
        for i, line in enumerate(lines)
    )
    badge = ""
    if entered:
        badge = (
            f'<text class="count" x="{box.x + box.w - 6:.1f}" y="{box.y + 11:.1f}" text-anchor="end">'
            f"&#215;{entered:,}</text>"
        )
    kind_label = f'<text class="state-type" x="{box.x + 6:.1f}" y="{box.y + box.h - 4:.1f}">{esc(kind)}</text>'
    if box.children:
        kind_label = ""
    title = f"<title>{esc(box.name)} ({esc(kind)}): entered {entered:,} time(s)</title>"
    return f"<g{values}>{title}{shape}{text}{badge}{kind_label}</g>"


def _edge(source: Box, target: Box, how: str, count: int) -> str:
    values = attrs(
        class_="transition taken" if count else "transition",
        data_from=source.name,
        data_to=target.name,
        data_how=how,
        data_count=count,
    )
    marker = "url(#arrow-taken)" if count else "url(#arrow)"
    if target.y > source.y + source.h / 2 and not target.children and not _inside(source, target):
        x1, y1 = source.x + source.w / 2, source.y + source.h
        x2, y2 = target.x + target.w / 2, target.y
        path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + 14:.1f} {x2:.1f},{y2 - 14:.1f} {x2:.1f},{y2:.1f}"
        label_at = ((x1 + x2) / 2 + 4, (y1 + y2) / 2)
    else:
        x1, y1 = source.x + source.w, source.y + source.h / 2
        x2, y2 = target.x + target.w, target.y + min(target.h / 2, 20)
        bulge = max(x1, x2) + 30
        path = f"M{x1:.1f},{y1:.1f} C{bulge:.1f},{y1:.1f} {bulge:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        label_at = (bulge - 6, (y1 + y2) / 2)
    label = f'<text class="edge-count" x="{label_at[0]:.1f}" y="{label_at[1]:.1f}">{count:,}</text>' if count else ""
    return f'<g{values}><path d="{path}" marker-end="{marker}"/>{label}</g>'


def _inside(source: Box, target: Box) -> bool:
    return target.x <= source.x and source.x + source.w <= target.x + target.w and target.y <= source.y


def _wrap(name: str) -> list[str]:
    if len(name) <= CHARS_PER_LINE:
        return [name]
    words, lines, line = name.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > CHARS_PER_LINE:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    if len(lines) > 2:
        lines = [lines[0], " ".join(lines[1:])[: CHARS_PER_LINE - 1] + "…"]
    return lines
