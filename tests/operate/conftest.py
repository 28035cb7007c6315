"""`drsctl sandbox` as an operator starts it (a real process on 127.0.0.1), and `drsctl run` / `plan` driven against
it over HTTP with the environment it prints; plain boto3 clients check what happened."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner, Result

from drsctl.cli import app
from drsctl.commands.sandbox import READY_LINE
from lambdas.core import records
from tests.conftest import ServedProcess

ROOT = Path(__file__).resolve().parents[2]
# Fast enough that a 30-minute drill takes 1.5 s, slow enough that a loaded machine's Lambdas (their compute is real
# time, scaled like the rest: 50 ms is a sandbox minute) stay far inside the waves' 90-minute timeouts (4.5 s).
SPEED = "1200"


class SandboxProcess(ServedProcess):
    """`drsctl sandbox` in a subprocess (started with SIGINT ignored, as a background job of a script starts it)."""

    def __init__(self, *args: str) -> None:
        super().__init__("sandbox", "--port", "0", *args, ready=READY_LINE, name="sandbox")
        self.exports = dict(re.findall(r"export (\w+)=(\S+)", "".join(self.seen)))
        self.endpoint = self.exports["AWS_ENDPOINT_URL"]

    def client(self, service: str, region: str | None = None) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region or self.exports["AWS_DEFAULT_REGION"],
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def drsctl(self, *args: str, stdin: str | None = None) -> Result:
        """`drsctl ARGS` with the environment the sandbox printed (in-process, as the CLI's own tests run it)."""
        env = {
            **self.exports,
            "COLUMNS": "200",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        records._table_named.cache_clear()  # another test's table objects may point elsewhere
        try:
            return CliRunner().invoke(app, list(args), env=env, input=stdin)
        finally:
            records._table_named.cache_clear()  # and ours at this sandbox must not outlive the call


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    running = SandboxProcess("--speed", SPEED)
    try:
        yield running
        running.interrupt()  # checked at teardown: every module's sandbox is stopped as an operator stops it
    finally:
        running.stop()


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.1)
