"""What the page and its pictures share: escaping, attributes, colours by outcome and time formats.

Every string that came from a plan, a scenario, DRS or a record (wave names, hostnames, errors, approvers) goes
through `esc` or `attrs` before it is written into the page.
"""

from __future__ import annotations

from html import escape
from typing import Any

# Outcome -> colour, the same in the timeline, the tables and the legend.
OUTCOME_COLOURS = {
    "LAUNCHED": "#2e7d32",
    "COMPLETED": "#2e7d32",
    "SUCCEEDED": "#2e7d32",
    "PARTIAL": "#f9a825",
    "FAILED": "#c62828",
    "REJECTED": "#c62828",
    "TIMED_OUT": "#ef6c00",
    "UNKNOWN": "#6a1b9a",
    "CANCELLED": "#6d4c41",
    "SKIPPED": "#9e9e9e",
    "KEPT": "#9e9e9e",  # a drill cleanup that kept the instances (OnFailure: KEEP)
    "NOT_RUN": "#9e9e9e",
}
RUNNING_COLOUR = "#1565c0"  # PENDING, POLLING, IN_PROGRESS, RUNNING: still going when the report was made


def colour(status: str | None) -> str:
    return OUTCOME_COLOURS.get(status or "", RUNNING_COLOUR)


def esc(text: object) -> str:
    return escape("" if text is None else str(text), quote=True)


def attrs(**values: Any) -> str:
    """` name="value"` pairs, escaped; `data_x` becomes `data-x`, `class_` becomes `class`; None is left out."""
    parts = []
    for name, value in values.items():
        if value is None:
            continue
        key = name.rstrip("_").replace("_", "-")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            text = f"{value:.1f}".rstrip("0").rstrip(".") or "0"
        else:
            text = str(value)
        parts.append(f' {key}="{esc(text)}"')
    return "".join(parts)


def clock(seconds: float | None) -> str:
    """A time relative to the start of an execution: `+00:12:30` after it, `-00:00:05` before it (one sign for the
    whole, never `+-`); '-' when unknown. Before the start are, for instance, a server's recovery point. The CLI's
    tables write times with it too (drsctl/commands/views.py)."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    sign = "-" if whole < 0 else "+"
    whole = abs(whole)
    return f"{sign}{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def slug(text: str) -> str:
    """An id-safe form of a state or wave name (ids are unique by the number or the position they also carry)."""
    return "".join(c.lower() if c.isalnum() else "-" for c in text).strip("-") or "x"
