"""lambdas/core/last_launch.py against the emulator: a server whose last launch says IN_PROGRESS is busy only while
its job has not ended; a job DRS ended with the launch unfinished frees it, and nothing is freed on a guess."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import pytest
from botocore.exceptions import ClientError

from drsctl.emulator import Scenario
from lambdas.core import accounts, drs, last_launch
from lambdas.core.accounts import Target
from tests.conftest import drs_client, estate, server_id

ACCOUNT = Scenario.model_fields["accountId"].default
HOME = Target(ACCOUNT, "us-east-1")
EXACT_DRILL = {"drill": {"snapshot": 2, "preparation": 50, "conversion": 200, "launch": 300}, "jitter": 0}
ENDED, STUCK, LAUNCHED, NEVER = (server_id(n) for n in range(4))
LAUNCHES_END = 1_000  # every launch has ended (or been abandoned) by then, on the virtual clock

Inventory = dict[Target, dict[str, dict[str, Any]]]


@contextmanager
def launched_estate(serve: Any, clock: Any, *faults: dict[str, Any]) -> Iterator[Inventory]:
    """Four servers, as Prepare lists them once their launches are over: ENDED's job ended without launching it,
    STUCK's job still runs, LAUNCHED launched, NEVER was never launched. `faults` open after the launches."""
    scenario = estate(4, timing=EXACT_DRILL, faults=list(faults))
    scenario["servers"][0]["faults"] = ["job_ends_without_launch"]
    scenario["servers"][1]["faults"] = ["stuck"]
    url = serve(scenario).endpoint
    client = drs_client(url)
    for server in (ENDED, STUCK, LAUNCHED):
        client.start_recovery(sourceServers=[{"sourceServerID": server}], isDrill=True)
    clock.advance(LAUNCHES_END)
    environment = {
        "AWS_ENDPOINT_URL_DRS": url,
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        accounts.ORCHESTRATOR_ACCOUNT: ACCOUNT,
    }
    with patch.dict(os.environ, environment):
        yield {HOME: {s["sourceServerID"]: s for s in drs.describe_source_servers(HOME)}}


def on_describe_jobs_after_the_launches(error: str) -> dict[str, Any]:
    return {"operation": "DescribeJobs", "error": error, "seconds": 10**6, "after": LAUNCHES_END}


def busy(inventory: Inventory, ended: set[str]) -> list[str]:
    return [s for s, server in inventory[HOME].items() if last_launch.still_launching(last_launch.of(server), ended)]


def test_only_a_job_that_has_ended_frees_a_server_whose_last_launch_says_in_progress(serve, clock):
    with launched_estate(serve, clock) as inventory:
        servers = inventory[HOME]
        assert [last_launch.of(servers[s]).get("status") for s in (ENDED, STUCK, LAUNCHED)] == [
            "IN_PROGRESS",
            "IN_PROGRESS",
            "LAUNCHED",
        ]
        assert last_launch.of(servers[NEVER]) == {}
        ended = last_launch.ended_jobs(inventory)
        assert ended == {last_launch.job_of(last_launch.of(servers[ENDED]))}
        assert busy(inventory, ended) == [STUCK]
        assert busy(inventory, set()) == [ENDED, STUCK]  # read from their status alone


def test_a_refused_describe_jobs_frees_nothing(serve, clock):
    with launched_estate(serve, clock, on_describe_jobs_after_the_launches("AccessDeniedException")) as inventory:
        assert last_launch.ended_jobs(inventory) == set()
        assert busy(inventory, last_launch.ended_jobs(inventory)) == [ENDED, STUCK]


def test_a_throttled_describe_jobs_propagates_so_that_prepare_is_retried(serve, clock):
    with (
        launched_estate(serve, clock, on_describe_jobs_after_the_launches("ThrottlingException")) as inventory,
        pytest.raises(ClientError, match="ThrottlingException"),
    ):
        last_launch.ended_jobs(inventory)


def test_no_call_when_no_last_launch_is_unfinished(serve, clock):
    # every DescribeJobs throttled (a call would raise): servers with nothing unfinished ask DRS nothing
    with launched_estate(serve, clock, on_describe_jobs_after_the_launches("ThrottlingException")) as inventory:
        finished = {HOME: {s: inventory[HOME][s] for s in (LAUNCHED, NEVER)}}
        assert last_launch.ended_jobs(finished) == set()
        assert last_launch.ended_jobs({}) == set()
