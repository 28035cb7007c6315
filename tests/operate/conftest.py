"""`drsctl sandbox` as an operator starts it (a real process on 127.0.0.1), and `drsctl run` / `plan` driven against
it over HTTP with the environment it prints; plain boto3 clients check what happened."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
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

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HANG = 180  # bounds a hang only: a loaded machine may take many seconds to start Python
# Fast enough that a 30-minute drill takes 1.5 s, slow enough that a loaded machine's Lambdas (their compute is real
# time, scaled like the rest: 50 ms is a sandbox minute) stay far inside the waves' 90-minute timeouts (4.5 s).
SPEED = "1200"


class SandboxProcess:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [BIN / "drsctl", "sandbox", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(READY_LINE)
        self.exports = dict(re.findall(r"export (\w+)=(\S+)", "".join(self.seen)))
        self.endpoint = self.exports["AWS_ENDPOINT_URL"]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str) -> None:
        while not any(text in line for line in self.seen):
            try:
                line = self.lines.get(timeout=HANG)
            except queue.Empty:
                pytest.fail(f"no {text!r} within {HANG} s; output so far: {self.seen!r}")
            if line is None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                pytest.fail(f"the sandbox ended before {text!r}: {self.seen!r}, stderr {stderr!r}")
            self.seen.append(line)

    def interrupt(self) -> None:
        """Ctrl-C, as an operator stops it: it says so, ends with exit code 0, and prints no traceback."""
        self.process.send_signal(signal.SIGINT)
        self.wait_for("stopping the sandbox")
        assert self.process.wait(timeout=HANG) == 0
        stderr = self.process.stderr.read() if self.process.stderr else ""
        assert "Traceback" not in stderr, stderr

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=HANG)

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
