"""Ctrl-C stops a served command whichever of its threads the kernel gives SIGINT to (drsctl/commands/common.py)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import HANG

# A served command's shape: the main thread waits for Ctrl-C; another thread (as the sandbox's HTTP server and
# watchers are) receives the SIGINT, as the kernel may choose any thread that does not block it.
SERVED = """
import signal, sys, threading, time
from drsctl.commands.common import console, serving_until_ctrl_c, {wait}

def interrupt_from_another_thread():
    time.sleep(0.5)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # delivered to this thread, not the main one

with serving_until_ctrl_c(console(), "stopping the served command"):
    threading.Thread(target=interrupt_from_another_thread, daemon=True).start()
    {call}
print("exited")
"""


def serve(wait: str, call: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SERVED.format(wait=wait, call=call)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_sigint_delivered_to_another_thread_stops_the_served_command():
    served = serve("wait_for_ctrl_c", "wait_for_ctrl_c()", HANG)
    assert served.returncode == 0, served.stderr
    assert served.stdout.splitlines() == ["stopping the served command", "exited"]


def test_a_wait_without_timeout_would_miss_it():
    """The cause, kept visible: a main thread blocked in a lock with no timeout never runs the handler."""
    try:
        serve("serving_until_ctrl_c as _unused", "threading.Event().wait()", 3)
    except subprocess.TimeoutExpired:
        return
    raise AssertionError("a lock wait without timeout was interrupted: wait_for_ctrl_c's loop may be unneeded")
