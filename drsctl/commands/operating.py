"""What the commands that operate the deployed stack share: the --stack and --json options, and one line (exit 2)
for every problem an operator can fix (no stack, no execution, nothing to approve, no region or credentials, no
endpoint answering), never a traceback."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from drsctl.commands.aws_setup import setup_problem
from drsctl.commands.common import console, fail_invalid

if TYPE_CHECKING:
    from drsctl.operate.stack import DeployedStack

EXIT_AWS_FAILED = 1
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell counts it (128 + SIGINT)
STACK_OPTION = typer.Option(
    "--stack",
    envvar="DRSCTL_STACK",
    help="The deployed stack's name (its CloudFormation outputs name the state machine and tables); "
    "default DrsOrchestrator.",
)
JSON_OPTION = typer.Option("--json", help="Print the result as JSON on stdout instead of text.")


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


@contextmanager
def operating(what: str) -> Iterator[None]:
    """Turn the errors of talking to AWS (or the sandbox) into one line: exit 2 when the operator can fix it."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
    from botocore.parsers import ResponseParserError

    from drsctl.operate.executions import OperateError
    from drsctl.operate.stack import StackNotFound

    try:
        yield
    except (OperateError, StackNotFound) as error:
        raise fail_invalid(f"cannot {what}: {error}") from error
    except EndpointConnectionError as error:
        endpoint = error.kwargs.get("endpoint_url")
        if not os.environ.get("AWS_ENDPOINT_URL"):
            raise fail_invalid(
                f"cannot {what}: nothing answers at {endpoint} (region {region_name()}): check that AWS_DEFAULT_REGION "
                "is the stack's Region and that this machine reaches AWS"
            ) from error
        raise fail_invalid(
            f"cannot {what}: nothing answers at {endpoint}: start the sandbox "
            "(drsctl sandbox) or unset AWS_ENDPOINT_URL to reach AWS"
        ) from error
    except ResponseParserError as error:
        raise fail_invalid(
            f"cannot {what}: what answers at {os.environ.get('AWS_ENDPOINT_URL') or 'the endpoint'} is not AWS nor "
            "the sandbox (its answer is not an AWS response); check AWS_ENDPOINT_URL"
        ) from error
    except ValueError as error:
        if "Invalid endpoint" not in str(error):
            raise
        raise fail_invalid(f"cannot {what}: {error}; AWS_ENDPOINT_URL must be a URL (http://127.0.0.1:4566)") from error
    except (BotoCoreError, ClientError) as error:
        fix = setup_problem(error)
        if fix is not None:
            raise fail_invalid(f"cannot {what}: {fix}") from error
        response = getattr(error, "response", None) or {}
        code = response.get("Error", {}).get("Code")
        if code in NOT_HERE:
            message = response["Error"].get("Message") or code
            if code == "InvalidRegion":  # the sandbox's answer: it names the Region and the fix
                raise fail_invalid(f"cannot {what}: {message}") from error
            raise fail_invalid(
                f"cannot {what}: {message} in region {region_name()}: set AWS_DEFAULT_REGION to the stack's Region "
                "(and --stack to its name)"
            ) from error
        console(stderr=True).print(Text.assemble(Text(f"could not {what}:", style="red"), f" {error}"), soft_wrap=True)
        raise typer.Exit(EXIT_AWS_FAILED) from error


@contextmanager
def on_interrupt(message: str) -> Iterator[None]:
    """Ctrl-C in the block: say on stderr, in one line, what goes on without us and how to pick it up again, then
    exit 130 (typer would end silently: an operator under stress must know the execution was not touched)."""
    try:
        yield
    except KeyboardInterrupt:
        console(stderr=True).print(Text.assemble(Text("interrupted:", style="yellow"), f" {message}"), soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None


NOT_HERE = ("ResourceNotFoundException", "StateMachineDoesNotExist", "InvalidRegion")  # the wrong Region, most likely


def region_name() -> str:
    """The Region the SDK uses (AWS_REGION, AWS_DEFAULT_REGION or the profile's), or "(none)"."""
    import boto3

    return boto3.session.Session().region_name or "(none)"


def find(stack_name: str | None, what: str) -> DeployedStack:
    from drsctl.operate.stack import find_stack

    with operating(what):
        return find_stack(stack_name)


# Step Functions execution names: 1-80 characters, none of whitespace, brackets, wildcards, these punctuation marks
# or control characters (the StartExecution `name` rules).
_EXECUTION_NAME = re.compile(r"[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,80}")


def check_execution_name(value: str, field: str) -> str:
    if not _EXECUTION_NAME.fullmatch(value):
        raise fail_invalid(
            f"{field} {value!r} is not an execution name: 1 to 80 characters without spaces, brackets, wildcards or "
            '" # % \\ ^ | ~ ` $ & , ; : /; drsctl run list shows the executions'
        )
    return value


def check_plan_id(value: str, field: str) -> str:
    from lambdas.core.plan import NAME_PATTERN

    if not re.fullmatch(NAME_PATTERN, value):
        raise fail_invalid(
            f"{field} {value!r} is not a PlanId: 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit; drsctl plan list shows the stored plans"
        )
    return value


def check_status(value: str) -> str:
    """An execution state of the one vocabulary (any case); the stored PENDING and POLLING read as RUNNING."""
    from drsctl.operate.vocabulary import RUNNING_RECORD, STATES

    wanted = value.strip().upper()
    if wanted in RUNNING_RECORD:
        return "RUNNING"
    if wanted not in STATES:
        raise fail_invalid(f"--status {value!r} is not an execution state: use one of {', '.join(STATES)} (any case)")
    return wanted
