"""`drsctl sandbox`: the deployed stack's APIs (Step Functions, DynamoDB, Lambda, SNS, CloudFormation outputs, DRS)
on one local endpoint, with time running `--speed` times faster, for `drsctl run` and any AWS SDK."""

from __future__ import annotations

import math
import re
import shlex
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from drsctl.commands.common import console, fail_invalid, serving_until_ctrl_c, wait_for_ctrl_c
from drsctl.commands.emulator import _bind_problem
from drsctl.commands.inputs import read_scenario
from drsctl.commands.rehearse import EXAMPLES

READY_LINE = "Sandbox ready. Press Ctrl-C to stop."  # printed last, once it answers: scripts may wait for it
HOST = "127.0.0.1"  # loopback only: the sandbox accepts any credentials
DEFAULT_STACK = "DrsOrchestrator"
MAX_SPEED = 100_000.0


STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")  # CloudFormation's rule for stack names


def sandbox(
    scenario: Annotated[
        Path,
        typer.Option(
            help="Emulated estate (YAML, or JSON if it ends in .json).",
            show_default="the bundled examples/scenario.yaml",
        ),
    ] = EXAMPLES / "scenario.yaml",
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1; 0 picks a free one.", min=0, max=65535)] = 4566,
    speed: Annotated[
        float, typer.Option(help="How many times faster than real time the sandbox's clock runs (60: 1 min per s).")
    ] = 60.0,
    stack: Annotated[str, typer.Option(help="The stack name it answers DescribeStacks for.")] = DEFAULT_STACK,
    verbose: Annotated[bool, typer.Option(help="Log every request on stderr.")] = False,
) -> None:
    """Serve a local stand-in for the deployed stack until Ctrl-C: the workflow definition, tables and Lambdas run
    in-process against the DRS emulator, on 127.0.0.1 only, with any credentials.

    It prints the `export` lines that point `drsctl run`, the AWS CLI and any SDK at it. Approvals wait for
    `drsctl run approve`, unless the scenario's `approvals` answer them; a stopped execution is reconciled (its
    record ends CANCELLED) as the stack's EventBridge rule does.
    """
    if not (math.isfinite(speed) and 0 < speed <= MAX_SPEED):
        raise fail_invalid(
            f"--speed {speed}: give a number above 0 and at most {MAX_SPEED:g} (60: one minute per second)"
        )
    if not STACK_NAME.fullmatch(stack):
        raise fail_invalid(
            f"--stack {stack!r}: a CloudFormation stack name is 1 to 128 letters, digits and hyphens, starting with a "
            "letter"
        )
    out = console()
    with serving_until_ctrl_c(out, "stopping the sandbox") as resources:
        _check_port(port)  # before the stage is built (seconds): a port in use is said at once
        loaded = read_scenario(scenario)
        out.print(f"Starting the sandbox: {len(loaded.servers)} source server(s) from {scenario}, time x{speed:g} ...")
        from drsctl.sandbox.stage import sandbox as serve_sandbox

        try:
            served = resources.enter_context(
                serve_sandbox(
                    loaded, speed=speed, port=port, host=HOST, stack_name=stack, verbose=verbose, say=_say(out)
                )
            )
        except (OSError, OverflowError) as error:
            raise fail_invalid(_bind_problem(error, HOST, port)) from error
        out.print(Text.assemble("Sandbox listening on ", Text(served.endpoint, style="bold")))
        out.print("In another terminal, point drsctl run, the AWS CLI and any SDK at it:")
        for name, value in served.exports().items():
            out.print(f"  export {name}={shlex.quote(value)}", soft_wrap=True)
        out.print(f"Stack {stack}: state machine {served.outputs['StateMachineArn']}", soft_wrap=True)
        out.print(READY_LINE)
        wait_for_ctrl_c()


def _say(out: Console) -> Callable[[str], None]:
    """What the sandbox tells its terminal as executions run: a line each, stamped with the sandbox's time."""

    def say(line: str) -> None:
        out.print(line, soft_wrap=True)

    return say


def _check_port(port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise fail_invalid(_bind_problem(error, HOST, port)) from error
