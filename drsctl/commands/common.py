"""What every sub-command shares: consoles that never read user text as markup, errors that exit 2.

Every console here is made with `markup=False, emoji=False, highlight=False`: a wave named `[/]` or `[eu] web`, a
hostname or a file name is printed as written. Styled words are `rich.text.Text` objects, never markup strings.
"""

from __future__ import annotations

import os
import sys
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
