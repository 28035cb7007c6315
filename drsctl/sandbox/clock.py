"""Time that runs `speed` times faster than the wall clock, for everything in the sandbox.

The engine and the emulator take a `VirtualClock`: they read `now()` and, where they would wait, `advance()` it. In
a rehearsal nothing else moves time, so a wait costs nothing. In the sandbox an operator acts in real time between
calls (starts, approves, cancels), so time must pass on its own: `now()` follows the wall clock scaled by `speed`,
and a wait of N seconds sleeps N / speed real seconds. At the default 60x a 20-minute drill takes 20 s.
"""

from __future__ import annotations

import threading
import time

from drsctl.clock import VirtualClock


class ScaledClock(VirtualClock):
    """`now()` moves `speed` seconds per real second from `start`; `advance` and `advance_to` sleep until then."""

    def __init__(self, speed: float, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be above 0 (got {speed})")
        super().__init__(time.time() if start is None else start)
        self.speed = speed
        self._origin = self._now
        self._wall_origin = time.monotonic()
        self._sleeping = threading.Event()  # never set: an interruptible sleep that threads do not share

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._wall_origin) * self.speed

    def advance(self, seconds: float) -> float:
        """Wait `seconds` of sandbox time (seconds / speed of real time) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (asked to advance by {seconds} s)")
        return self.advance_to(self.now() + seconds)

    def advance_to(self, when: float) -> float:
        """Wait until sandbox time reaches `when`; a time in the past returns at once."""
        remaining = when - self.now()
        while remaining > 0:
            self._sleeping.wait(remaining / self.speed)
            remaining = when - self.now()
        return self.now()
