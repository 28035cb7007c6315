"""Clocks the emulator (and later the local engine) read time from.

A rehearsal runs a 30-minute drill in about a second, so everything that waits or stamps a time must ask one
shared clock instead of `time.time()`. `RealClock` is the wall clock used when the emulator is served to humans;
`VirtualClock` only moves when someone advances it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the time in epoch seconds."""

    def now(self) -> float: ...


class RealClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()


class VirtualClock:
    """A clock that moves only when told to. Thread-safe: handlers on several threads may read it."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z, a fixed, readable origin
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (asked to advance by {seconds} s)")
        with self._lock:
            self._now += seconds
            return self._now

    def advance_to(self, when: float) -> float:
        """Move forward to `when`; a time in the past leaves the clock where it is."""
        with self._lock:
            self._now = max(self._now, when)
            return self._now


def iso8601(epoch_seconds: float) -> str:
    """Format a time the way DRS does (`ISO8601DatetimeString`: UTC, 'Z' suffix, second precision)."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso8601(text: str) -> float:
    """Parse a DRS timestamp (with or without fractional seconds) into epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
