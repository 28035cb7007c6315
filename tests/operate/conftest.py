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
import yaml
from typer.testing import CliRunner, Result

from drsctl.cli import app
from drsctl.commands.sandbox import READY_LINE
from lambdas.core import records
from tests.conftest import BIN, HANG, ServedProcess  # noqa: F401 - BIN: re-exported for the operate tests

ROOT = Path(__file__).resolve().parents[2]
# The sandbox's default speed, on the example estate with DRS jobs of about a minute (fast_estate): a three-wave drill
# takes about 5 real seconds, and every deadline stays far away in real time however starved the worker is: a wave's
# 90 minutes are 90 s, an approval's hour 60 s, where a Lambda's compute (real time, scaled like the rest) takes
# 50 ms to a second or two. (At 1200x a wave's 90 minutes were 4.5 s: a starved worker timed waves out.)
SPEED = 60
JOB_TIMING = {"snapshot": 1, "preparation": 10, "conversion": 20, "launch": 30}


def fast_estate(folder: Path) -> Path:
    """The example estate (examples/scenario.yaml), its DRS jobs a minute long instead of nine."""
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    scenario["timing"] = {**scenario["timing"], "drill": JOB_TIMING, "recovery": JOB_TIMING, "terminate": 10}
    for server in scenario["servers"]:
        server.pop("timing", None)
    path = folder / "estate.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


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

    def drsctl(self, *args: str, stdin: str | None = None, **extra: str) -> Result:
        """`drsctl ARGS` with the environment the sandbox printed (in-process, as the CLI's own tests run it), and
        `extra` variables over it."""
        env = {
            **self.exports,
            "COLUMNS": "200",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **extra,
        }
        records._table_named.cache_clear()  # another test's table objects may point elsewhere
        try:
            return CliRunner().invoke(app, list(args), env=env, input=stdin)
        finally:
            records._table_named.cache_clear()  # and ours at this sandbox must not outlive the call


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    estate = fast_estate(tmp_path_factory.mktemp("sandbox"))
    running = SandboxProcess("--speed", str(SPEED), "--scenario", str(estate))
    try:
        yield running
        running.interrupt()  # checked at teardown: every module's sandbox is stopped as an operator stops it
    finally:
        running.stop()


def wait_until(check: Callable[[], Any], what: str, timeout: float = HANG) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.1)
