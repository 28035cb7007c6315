"""The `drsctl` command: operator CLI and local runtime.

Starting it imports only typer, rich and the command signatures; each command imports what it needs (pydantic,
boto3, the emulator, moto and the engine) when it runs, so `drsctl --help` answers in a fraction of a second.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from drsctl.commands.emulator import emulator
from drsctl.commands.plan import plan_app
from drsctl.commands.rehearse import rehearse
from drsctl.commands.report import report
from drsctl.commands.run import run_app
from drsctl.commands.sandbox import sandbox

PACKAGE = "drs-orchestrator"
EXIT_INTERRUPTED = 130
DEBUG_VARIABLE = "DRSCTL_DEBUG"  # set to 1 to see the traceback of an unexpected error


def _no_type_for_flags() -> None:
    """--help lists an option's type (`<int>`, `<path>`); a flag takes no value, so it shows none (typer would show
    `<bool>`, which reads as if a value were expected)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_no_type_for_flags()
app = typer.Typer(
    name="drsctl",
    help="Run, rehearse and inspect DRS recovery plans.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(rehearse)
app.command()(emulator)
app.command()(report)
app.command()(sandbox)
app.add_typer(plan_app, name="plan")
app.add_typer(run_app, name="run")


def _reflowed_help(typer_app: typer.Typer) -> None:
    """Each command's --help from its docstring, every paragraph one line that the terminal wraps: typer keeps the
    single line breaks of all but the first paragraph, which at 80 columns left lines of one or two words."""
    import inspect

    for info in typer_app.registered_commands:
        text = info.help or inspect.getdoc(info.callback)
        if text:
            info.help = "\n\n".join(" ".join(paragraph.split()) for paragraph in text.split("\n\n"))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _reflowed_help(group.typer_instance)


_reflowed_help(app)


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"drsctl {version(PACKAGE)}"
    except PackageNotFoundError:
        return "drsctl (version unknown: the drs-orchestrator package is not installed)"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Run, rehearse and inspect DRS recovery plans."""


def main() -> None:
    """The console script: no traceback for Ctrl-C, and one line (not a traceback) for an unexpected error."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as ended:
        if ended.code == EXIT_INTERRUPTED and _interrupted_silently(ended):
            sys.stderr.write("interrupted\n")
        raise
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        sys.stderr.write(
            f"error: unexpected {type(error).__name__}: {error}\n"
            f"This is a bug in drsctl: please report it with the command you ran ({DEBUG_VARIABLE}=1 shows the "
            "traceback).\n"
        )
        sys.exit(1)


def _interrupted_silently(ended: SystemExit) -> bool:
    """Typer turns a Ctrl-C in a command into exit code 130 without a word (its Exit(130) raised from the
    KeyboardInterrupt); a command that said what goes on without it (drsctl.commands.operating.on_interrupt) raises
    its own Exit(130) from nothing."""
    stopped = ended.__context__
    return stopped is not None and isinstance(stopped.__cause__, KeyboardInterrupt)
