"""Times as an operator reads them: every line of `run watch` (piped) and of the sandbox's log starts with its UTC
time, `HH:MM:SS`, followed by the date in brackets on the first line and whenever the date changes:

    20:15:03 (2026-11-29 UTC) wave 1 (databases): RUNNING, 0/4 launched
    20:15:33 wave 1 (databases): COMPLETED, 4/4 launched

`run watch` stamps a line with the stack's clock when it read the change (AWS's, or the sandbox's); the sandbox
stamps its log with its own clock (which runs --speed times faster), the clock the records are written in.
"""

from __future__ import annotations

from datetime import UTC, datetime


class LineStamps:
    """`HH:MM:SS` for a line at `epoch`, with ` (YYYY-MM-DD UTC)` the first time and whenever the date changes."""

    def __init__(self) -> None:
        self._date: str | None = None

    def __call__(self, epoch: float) -> str:
        moment = datetime.fromtimestamp(epoch, tz=UTC)
        date = moment.strftime("%Y-%m-%d")
        stamp = moment.strftime("%H:%M:%S")
        if date != self._date:
            self._date = date
            return f"{stamp} ({date} UTC)"
        return stamp

    def lines(self, epoch: float, text: str) -> list[str]:
        """Each line of `text` with its stamp (a message of several lines: each carries the time)."""
        return [f"{self(epoch)} {line}" for line in text.splitlines() or [""]]


def utc(epoch: float, *, date: bool = True) -> str:
    """`2026-11-29 20:15:03 UTC` (or `20:15:03 UTC`)."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if date else "%H:%M:%S UTC")


def duration(seconds: float) -> str:
    """`00:12:30` (hours past 99 as they are: `123:00:00`)."""
    whole = max(0, round(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
