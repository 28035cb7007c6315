"""Wait states that a stop interrupts, in the sandbox only.

In a rehearsal a Wait costs nothing (the virtual clock jumps), so there is nothing to interrupt. In the sandbox a
Wait of N seconds sleeps N / speed real seconds: a runbook step's 24-hour wait is 24 real minutes at 60x, during which
a stopped execution would still read RUNNING (moto ends it when its thread returns). Here the engine's own wait
(patch 2 of drsctl/local/engine.py, with its execution deadline) is called in slices of at most SLICE_SECONDS of
real time, and stops as soon as the execution is no longer running, as a Wait in AWS does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

SLICE_SECONDS = 0.25  # real seconds


@contextmanager
def interruptible_waits(speed: float) -> Iterator[None]:
    """For the block: Wait states sleep in slices and end when their execution stops. Apply after the engine."""
    engine_wait = WaitFunction._wait_interval
    slice_seconds = max(1, int(SLICE_SECONDS * speed))

    def wait_in_slices(self: WaitFunction, env: Any, wait_seconds: int) -> None:
        remaining = wait_seconds
        while remaining > 0 and env.is_running():
            step = min(remaining, slice_seconds)
            engine_wait(self, env, step)
            remaining -= step

    with patch.object(WaitFunction, "_wait_interval", wait_in_slices):
        yield
