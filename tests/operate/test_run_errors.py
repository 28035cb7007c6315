"""`drsctl run` and `plan` when there is nothing to talk to: one line, exit 2, the fix named; and a sandbox port in
use refused before anything is built."""

from __future__ import annotations

import os
import socket

from typer.testing import CliRunner

from drsctl.cli import app
from lambdas.core import records
from tests.conftest import ServedProcess
from tests.operate.conftest import ROOT


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(*args: str, **env: str):
    args = tuple(str(ROOT / arg) if arg.startswith("examples/") else arg for arg in args)
    base = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "COLUMNS": "200",
    }
    records._table_named.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env={**base, **env})
    finally:
        records._table_named.cache_clear()


def test_nothing_answering_at_the_endpoint_is_one_line_exit_2():
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    for args in (
        ("run", "list"),
        ("run", "show", "x"),
        ("plan", "list"),
        ("run", "start", "storefront"),
        ("plan", "load", "examples/plan.yaml"),
    ):
        result = _run(*args, AWS_ENDPOINT_URL=endpoint)
        assert result.exit_code == 2, (args, result.output)
        assert f"nothing answers at {endpoint}" in result.output and "drsctl sandbox" in result.output
        assert "Traceback" not in result.output


def test_the_stack_named_by_environment_variables_needs_no_cloudformation():
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    result = _run(
        "run",
        "list",
        AWS_ENDPOINT_URL=endpoint,
        DRSCTL_STATE_MACHINE_ARN="arn:aws:states:us-east-1:123456789012:stateMachine:m",
        PROTECTION_GROUPS_TABLE="g",
        RECOVERY_PLANS_TABLE="p",
        EXECUTION_HISTORY_TABLE="h",
        EXECUTION_WAVES_TABLE="w",
    )
    # the tables are read (DynamoDB, nothing answers there either); DescribeStacks was never needed
    assert result.exit_code == 2 and "cannot list executions: nothing answers" in result.output


def test_a_sandbox_port_in_use_is_refused_at_once():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["sandbox", "--port", str(port)], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert f"port {port} on 127.0.0.1 is already in use" in result.output


def test_something_not_aws_answering_or_a_bad_endpoint_is_one_line_exit_2():
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        result = _run("run", "list", AWS_ENDPOINT_URL=endpoint)
        assert result.exit_code == 2, result.output
        assert f"what answers at {endpoint} is not AWS nor the sandbox" in result.output
    finally:
        server.shutdown()
    result = _run("run", "list", AWS_ENDPOINT_URL="notaurl")
    assert result.exit_code == 2 and "AWS_ENDPOINT_URL must be a URL" in result.output, result.output
    assert "Traceback" not in result.output


def test_an_execution_name_that_is_not_utf_8_is_refused_before_any_call():
    result = _run("run", "show", "s\udcffx")
    assert result.exit_code == 2 and "is not an execution name" in result.output, result.output


def test_ctrl_c_while_the_sandbox_starts_stops_it_cleanly():
    """Ctrl-C at any moment: here while it imports the engine and builds its stage, before it serves. Started with
    SIGINT ignored, as a background job of a script starts it."""
    starting = ServedProcess("sandbox", "--port", "0", ready="Starting the sandbox", name="sandbox")
    try:
        starting.interrupt()
        assert not any("Sandbox ready" in line for line in starting.seen)
    finally:
        starting.stop()
