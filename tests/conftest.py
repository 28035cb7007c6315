"""Shared fixtures: a virtual clock, emulators built from inline scenarios, served on loopback, and clients."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.config import Config
from botocore.loaders import Loader

from drsctl.clock import VirtualClock
from drsctl.emulator import DrsEmulator, RunningEmulator, Scenario, start
from drsctl.local import engine
from drsctl.local.rehearsal import LocalAws, local_aws


def server_id(n: int, prefix: str = "t") -> str:
    """A valid, readable source server ID: s-<17 alphanumerics>."""
    return "s-" + f"{prefix}{n}".rjust(17, "0")


def estate(count: int, **scenario: Any) -> dict[str, Any]:
    """A scenario with `count` healthy servers in us-east-1 (more keys merge in)."""
    servers = [{"id": server_id(n), "hostname": f"host-{n}", "tags": {"Tier": "app"}} for n in range(count)]
    return {"region": "us-east-1", "seed": 3, "servers": servers, **scenario}


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (make unit): one worker per CPU this process may use, and one more. The sandbox tests spend most of
    their time waiting for the sandbox's clock (scaled, but real seconds), when their worker uses no CPU: the extra
    worker fills that time (on a 2-core machine, 3 workers took pytest from 382 s to about 310 s).
    PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set, as xdist documents."""
    chosen = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if chosen:
        return int(chosen)
    return len(os.sched_getaffinity(0)) + 1


@pytest.fixture(scope="session", autouse=True)
def botocore_data_read_once() -> Iterator[None]:
    """What botocore reads from its data files (endpoints, service models), read once per test process, as the
    engine does in a rehearsal (patch 27, drsctl/local/engine.py). The CLI's tests run many `drsctl` commands in one
    process, each with a new SDK session, as each `drsctl` process has: each session read about 2 MB of JSON again
    (a third of the time of a test that runs 40 commands). Same files, same data."""
    with patch.object(Loader, "load_data_with_path", engine._LOADED_DATA):
        yield


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def serve(clock: VirtualClock) -> Iterator[Callable[[dict[str, Any]], RunningEmulator]]:
    """Serve emulators built from scenario dicts; every one is stopped at the end of the test."""
    running: list[RunningEmulator] = []

    def _serve(scenario: dict[str, Any]) -> RunningEmulator:
        emulator = start(DrsEmulator(Scenario.model_validate(scenario), clock))
        running.append(emulator)
        return emulator

    yield _serve
    for emulator in running:
        emulator.stop()


def drs_client(endpoint: str, region: str = "us-east-1", retries: int = 0, validate_params: bool = True) -> Any:
    """A plain boto3 DRS client; retries off by default so tests see each error exactly as sent.

    `validate_params=False` turns off botocore's client-side checks, as a client in another language would.
    """
    return boto3.client(
        "drs",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": retries, "mode": "standard"}, parameter_validation=validate_params),
    )


@pytest.fixture
def stage() -> Iterator[Callable[[dict[str, Any]], AbstractContextManager[LocalAws]]]:
    """Build a local AWS (engine, tables, functions, emulator) from a scenario dict, for workflow tests."""

    def _stage(scenario: dict[str, Any]) -> AbstractContextManager[LocalAws]:
        return local_aws(Scenario.model_validate(scenario))

    yield _stage


BIN = Path(sys.executable).parent
# Deadlines only bound a hang: a loaded machine (CI, other test workers) may take many seconds to start Python.
HANG = 180
# How a background job of a non-interactive shell starts a command (`make test &` in a script, CI runners): with
# SIGINT ignored, which the process inherits. A served command must stop on Ctrl-C all the same.
CTRL_C_IGNORED = ["sh", "-c", 'trap "" INT; exec "$0" "$@"']


class ServedProcess:
    """`drsctl <command>` in a subprocess, started with SIGINT ignored (CTRL_C_IGNORED); its stdout and stderr each
    read on a thread (a pipe nobody reads would block the process once full), so a wait for a line has a deadline."""

    def __init__(self, *args: str | Path, ready: str, name: str) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [*CTRL_C_IGNORED, BIN / "drsctl", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.errors: list[str] = []
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines.put), daemon=True).start()
        self._stderr_reader = threading.Thread(
            target=self._read, args=(self.process.stderr, self.errors.append), daemon=True
        )
        self._stderr_reader.start()
        self.wait_for(ready)

    @staticmethod
    def _read(stream: Any, keep: Callable[[Any], None]) -> None:
        for line in stream:
            keep(line)
        keep(None)

    def stderr(self) -> str:
        """What it wrote on stderr so far (all of it, once it has ended)."""
        if self.process.poll() is not None:
            self._stderr_reader.join(timeout=HANG)
        return "".join(line for line in self.errors if line is not None)

    def wait_for(self, text: str) -> None:
        while not any(text in line for line in self.seen):
            try:
                line = self.lines.get(timeout=HANG)
            except queue.Empty:
                pytest.fail(f"no {text!r} within {HANG} s; output so far: {self.seen!r}")
            if line is None:
                self.process.wait(timeout=HANG)
                pytest.fail(f"{self.name} ended before {text!r}: {self.seen!r}, stderr {self.stderr()!r}")
            self.seen.append(line)

    def interrupt(self) -> None:
        """Ctrl-C, as an operator stops it: it says so, ends with exit code 0, and prints no traceback."""
        self.process.send_signal(signal.SIGINT)
        self.wait_for(f"stopping the {self.name}")
        assert self.process.wait(timeout=HANG) == 0
        assert "Traceback" not in self.stderr(), self.stderr()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=HANG)
