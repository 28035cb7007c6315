"""What every sub-command shares: consoles that never read user text as markup, errors that exit 2.

Every console here is made with `markup=False, emoji=False, highlight=False`: a wave named `[/]` or `[eu] web`, a
hostname or a file name is printed as written. Styled words are `rich.text.Text` objects, never markup strings.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

EXIT_INVALID_INPUT = 2
PIPED_WIDTH = 160  # output that is not a terminal and has no COLUMNS: wide enough for one line per server


def console(*, stderr: bool = False) -> Console:
    """A console for command output. A terminal (or COLUMNS) sets the width; piped output gets PIPED_WIDTH."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS", "").isdigit() else PIPED_WIDTH
    return Console(stderr=stderr, width=width, markup=False, emoji=False, highlight=False)


def styled(text: str, style: str) -> Text:
    return Text(text, style=style)


def print_error(message: str, **print_options: Any) -> None:
    """One problem per line on stderr, each line starting `error:`; user text is never read as markup."""
    out = console(stderr=True)
    for line in message.splitlines() or [""]:
        out.print(Text.assemble(styled("error:", "bold red"), " ", line), soft_wrap=True, **print_options)


def fail_invalid(message: str) -> typer.Exit:
    """Print an input error on stderr and return the exit (code 2) for the caller to raise."""
    print_error(message)
    return typer.Exit(EXIT_INVALID_INPUT)


@contextmanager
def serving_until_ctrl_c(out: Console, stopping: str) -> Iterator[ExitStack]:
    """The body of a command that serves until Ctrl-C (`drsctl emulator`, `drsctl sandbox`).

    Ctrl-C at any moment, start-up included, ends the body: `stopping` is printed, what the body put on the yielded
    ExitStack is closed, and the command exits 0. A second Ctrl-C while it closes ends the process at once.

    Python turns SIGINT into KeyboardInterrupt only when SIGINT was at its default when the process started. A
    process started as a background job of a non-interactive shell (`make test &` in a script, CI runners) inherits
    SIGINT *ignored*, and so do its children: Ctrl-C (`kill -INT`) then did nothing, and a served emulator or sandbox
    ran until killed. So the handler is set here, whatever was inherited, and the previous one restored afterwards.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with ExitStack() as resources:
            try:
                yield resources
            except KeyboardInterrupt:
                out.print(stopping)
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # closing takes a moment: a second Ctrl-C ends it at once
    finally:
        signal.signal(signal.SIGINT, previous)


# How often the main thread of a served command wakes while it waits for Ctrl-C (seconds).
CTRL_C_CHECK_SECONDS = 0.2


def wait_for_ctrl_c() -> None:
    """Wait, in the main thread, until Ctrl-C (KeyboardInterrupt, raised by serving_until_ctrl_c's handler).

    Not a wait without a timeout: the kernel gives a process's SIGINT to any of its threads that does not block it,
    and the served commands run many (the HTTP server's, the sandbox's watchers, the engine's). Python's C handler
    only flags the signal; the main thread runs the Python handler when it next runs Python code. A main thread
    blocked in a lock with no timeout (`threading.Event().wait()`) wakes for a signal delivered to itself, never
    for one delivered to another thread: the sandbox then ran on after Ctrl-C, one teardown in a few hundred
    (180 s without "stopping the sandbox" in a full test run). Waking every CTRL_C_CHECK_SECONDS bounds that."""
    never = threading.Event()
    while not never.wait(CTRL_C_CHECK_SECONDS):
        pass
