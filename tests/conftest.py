"""Shared fixtures: a virtual clock, emulators built from inline scenarios, served on loopback, and clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import boto3
import pytest
from botocore.config import Config

from drsctl.clock import VirtualClock
from drsctl.emulator import DrsEmulator, RunningEmulator, Scenario, start
from drsctl.local.rehearsal import LocalAws, local_aws


def server_id(n: int, prefix: str = "t") -> str:
    """A valid, readable source server ID: s-<17 alphanumerics>."""
    return "s-" + f"{prefix}{n}".rjust(17, "0")


def estate(count: int, **scenario: Any) -> dict[str, Any]:
    """A scenario with `count` healthy servers in us-east-1 (more keys merge in)."""
    servers = [{"id": server_id(n), "hostname": f"host-{n}", "tags": {"Tier": "app"}} for n in range(count)]
    return {"region": "us-east-1", "seed": 3, "servers": servers, **scenario}


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
