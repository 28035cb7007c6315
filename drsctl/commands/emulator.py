"""`drsctl emulator`: serve the DRS emulator on the real clock for the AWS CLI or any boto3 program."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drsctl.clock import RealClock
from drsctl.commands.common import read_scenario
from drsctl.emulator import DrsEmulator, start


def emulator(
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario file (YAML or JSON); default: an empty estate.")
    ] = None,
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.", min=0, max=65535)] = 4566,
    host: Annotated[str, typer.Option(help="Address to bind. Keep it on loopback.")] = "127.0.0.1",
    verbose: Annotated[bool, typer.Option(help="Log every request on stderr.")] = False,
) -> None:
    """Serve the DRS emulator over HTTP until Ctrl-C."""
    loaded = read_scenario(scenario)
    running = start(DrsEmulator(loaded, RealClock()), host=host, port=port, verbose=verbose)
    console = Console()
    console.print(f"DRS emulator listening on [bold]{running.endpoint}[/]", highlight=False)
    console.print(
        f"{len(loaded.servers)} source server(s); default region {loaded.region}. Use it with:\n"
        f"  export AWS_ENDPOINT_URL_DRS={running.endpoint}\n"
        f"  aws drs describe-source-servers --region {loaded.region}\n"
        "Press Ctrl-C to stop.",
        highlight=False,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopping the emulator")
    finally:
        running.stop()
