"""`drsctl emulator`: serve the DRS emulator on the real clock for the AWS CLI or any boto3 program."""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from drsctl.commands.common import console, fail_invalid, serving_until_ctrl_c, wait_for_ctrl_c
from drsctl.commands.inputs import read_scenario

READY_LINE = "Press Ctrl-C to stop."  # printed last, once the emulator answers: scripts may wait for it


def emulator(
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario file (YAML, or JSON if it ends in .json); default: an empty estate.")
    ] = None,
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.", min=0, max=65535)] = 4566,
    host: Annotated[str, typer.Option(help="Address to bind. Keep it on loopback.")] = "127.0.0.1",
    verbose: Annotated[bool, typer.Option(help="Log every request on stderr.")] = False,
) -> None:
    """Serve the DRS emulator over HTTP until Ctrl-C. It accepts any credentials."""
    out = console()
    with serving_until_ctrl_c(out, "stopping the emulator") as resources:
        from drsctl.clock import RealClock
        from drsctl.emulator import DrsEmulator, start

        loaded = read_scenario(scenario)
        try:
            running = start(DrsEmulator(loaded, RealClock()), host=host, port=port, verbose=verbose)
        except (OSError, OverflowError, UnicodeError) as error:
            raise fail_invalid(_bind_problem(error, host, port)) from error
        resources.callback(running.stop)
        out.print(Text.assemble("DRS emulator listening on ", Text(running.endpoint, style="bold")))
        out.print(
            f"{len(loaded.servers)} source server(s); default region {loaded.region}. Use it with (any credentials):\n"
            f"  export AWS_ENDPOINT_URL_DRS={running.endpoint}\n"
            "  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test\n"
            f"  aws drs describe-source-servers --region {loaded.region}\n"
            f"{READY_LINE}",
            soft_wrap=True,
        )
        wait_for_ctrl_c()


def _bind_problem(error: BaseException, host: str, port: int) -> str:
    if isinstance(error, socket.gaierror | UnicodeError):
        return f"--host {host!r} is not a known address: use an address of this machine, e.g. 127.0.0.1"
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use: stop what uses it, or choose another --port (0: any free one)"
    if isinstance(error, OSError) and error.errno == errno.EADDRNOTAVAIL:
        return f"--host {host} is not an address of this machine: use 127.0.0.1"
    if isinstance(error, OSError) and error.errno == errno.EACCES:
        return f"port {port} needs privileges this user does not have: choose a --port above 1023, e.g. 4566"
    return f"cannot serve on {host}:{port}: {error}; choose another --host or --port"
