"""Ctrl-C at any moment of `drsctl run`: one line saying what goes on without the command and how to pick it up
again, exit code 130, no traceback; and nothing the command had done is lost (a cancel interrupted while it waits
for the record still records who cancelled and why)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from drsctl import cli
from drsctl.operate import executions
from tests.conftest import CTRL_C_IGNORED
from tests.operate.conftest import BIN, HANG, ROOT, wait_until

HERE = Path(__file__).parent
INTERRUPTED = 130

# Ctrl-C while Python imports the CLI (half a second on a loaded laptop): the import of typer is cut short.
CUT_IMPORT = """
import sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, CtrlC())
sys.argv = ["drsctl", "--version"]
from drsctl.__main__ import main
main()
"""


def test_ctrl_c_while_the_cli_loads_is_one_line():
    ended = subprocess.run(
        [sys.executable, "-c", CUT_IMPORT], check=False, capture_output=True, text=True, timeout=HANG, cwd=ROOT
    )
    assert (ended.returncode, ended.stderr, ended.stdout) == (INTERRUPTED, "interrupted\n", "")


def test_ctrl_c_in_any_command_says_so(monkeypatch, capsys):
    """Typer ends a command interrupted by Ctrl-C with exit code 130 and not a word: drsctl says it was interrupted."""

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("drsctl.operate.stack.find_stack", interrupted)  # Ctrl-C while the stack is looked up
    monkeypatch.setattr(sys, "argv", ["drsctl", "run", "list"])
    with pytest.raises(SystemExit) as ended:
        cli.main()
    assert ended.value.code == INTERRUPTED
    assert capsys.readouterr().err == "interrupted\n"


def _drsctl(sandbox, *args: str) -> subprocess.Popen[str]:
    """`drsctl ARGS` as a background job of a script starts it: with SIGINT ignored (CTRL_C_IGNORED)."""
    return subprocess.Popen(
        [*CTRL_C_IGNORED, BIN / "drsctl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **sandbox.exports, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull},
    )


def test_ctrl_c_in_run_watch_leaves_the_execution_running_and_says_so(sandbox):
    assert sandbox.drsctl("plan", "load", str(HERE / "waiting.yaml")).exit_code == 0
    assert sandbox.drsctl("run", "start", "waiting", "--name", "ctrl-c-1").exit_code == 0
    watching = _drsctl(sandbox, "run", "watch", "ctrl-c-1", "--interval", "0.2")
    assert watching.stdout is not None
    first = watching.stdout.readline()  # it follows the execution (piped: one line per change)
    assert "Execution ctrl-c-1 (plan waiting, DRILL): RUNNING" in first
    watching.send_signal(signal.SIGINT)
    _, stderr = watching.communicate(timeout=HANG)
    assert watching.returncode == INTERRUPTED
    assert "Traceback" not in stderr
    assert stderr.splitlines() == [
        "interrupted: stopped watching; execution ctrl-c-1 goes on (it is not cancelled): drsctl run watch ctrl-c-1 "
        'follows it again, drsctl run cancel ctrl-c-1 --reason "..." stops it'
    ]
    assert "RUNNING" in sandbox.drsctl("run", "show", "ctrl-c-1").output.splitlines()[0]
    assert sandbox.drsctl("run", "cancel", "ctrl-c-1", "--reason", "end of test").exit_code == 0


def test_ctrl_c_while_a_cancel_waits_for_the_record_still_records_who_and_why(sandbox, monkeypatch):
    assert sandbox.drsctl("plan", "load", str(HERE / "waiting.yaml")).exit_code == 0
    assert sandbox.drsctl("run", "start", "waiting", "--name", "ctrl-c-2").exit_code == 0
    wait_until(lambda: sandbox.drsctl("run", "show", "ctrl-c-2", "--json").output.count('"PlanVersion"'), "a record")
    reads = []
    real = executions.snapshot

    def read(*args, **kwargs):
        reads.append(args)
        if len(reads) == 2:  # the first read after StopExecution: the operator presses Ctrl-C
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(executions, "snapshot", read)
    cancelled = sandbox.drsctl("run", "cancel", "ctrl-c-2", "--reason", "window moved")
    monkeypatch.undo()
    assert cancelled.exit_code == INTERRUPTED, cancelled.output
    assert "interrupted: stopped waiting: drsctl run show ctrl-c-2 says whether it was stopped" in cancelled.output

    def ended():
        shown = sandbox.drsctl("run", "show", "ctrl-c-2", "--json")
        return shown.output if '"Status": "CANCELLED"' in shown.output else None

    shown = ended() or wait_until(ended, "the record CANCELLED")
    assert '"cancelReason": "window moved"' in shown
    assert '"cancelledBy": "arn:aws:iam::123456789012:user/sandbox-operator"' in shown
