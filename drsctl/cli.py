"""The `drsctl` command: operator CLI and local runtime."""

from __future__ import annotations

import typer

from drsctl.commands.emulator import emulator
from drsctl.commands.plan import plan_app
from drsctl.commands.rehearse import rehearse

app = typer.Typer(
    name="drsctl",
    help="Run, rehearse and inspect DRS recovery plans.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(rehearse)
app.command()(emulator)
app.add_typer(plan_app, name="plan")


def main() -> None:
    app()
