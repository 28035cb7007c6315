"""lambdas/core/launch_actions.py against the emulator's ListLaunchActions: what each server has configured, read
in order while there is time, and kept compactly for the step's next checks."""

from __future__ import annotations

import os
from unittest.mock import patch

import pytest
from botocore.exceptions import ClientError

from drsctl.emulator import Scenario
from lambdas.core import accounts, launch_actions
from lambdas.core.accounts import Target
from lambdas.core.launch_actions import GONE, Configured
from tests.conftest import estate, server_id

ACCOUNT = Scenario.model_fields["accountId"].default

IDS = [server_id(n) for n in range(5)]


@pytest.fixture
def endpoint(serve):
    """Five servers: 0 and 3 with a post-launch action (3's agent never discovered), the others with none."""
    scenario = estate(5)
    scenario["servers"][0]["postLaunch"] = {"seconds": 30}
    scenario["servers"][3]["postLaunch"] = {"seconds": 30, "agentDiscovered": False}
    url = serve(scenario).endpoint
    with patch.dict(
        os.environ,
        {
            "AWS_ENDPOINT_URL_DRS": url,
            "AWS_ACCESS_KEY_ID": "t",
            "AWS_SECRET_ACCESS_KEY": "t",
            accounts.ORCHESTRATOR_ACCOUNT: ACCOUNT,
        },
    ):
        yield url


HOME = Target(ACCOUNT, "us-east-1")  # the scenario's own account: the stack's


def in_home(server_id: str) -> int:
    return launch_actions.active_actions(HOME, server_id)


def test_each_server_is_read_for_its_active_actions_and_a_deleted_one_is_gone(endpoint):
    assert [launch_actions.active_actions(HOME, s) for s in IDS] == [1, 0, 0, 1, 0]
    assert launch_actions.active_actions(HOME, "s-" + "9" * 17) == GONE


def test_reading_stops_when_time_is_up_and_the_next_check_goes_on_from_there(endpoint):
    configured = Configured(IDS)
    budget = iter([True, True, False])
    launch_actions.read_more(in_home, configured, lambda: next(budget))
    assert configured.counts == [1, 0]
    assert [configured.count(s) for s in IDS] == [1, 0, None, None, None]
    kept = {launch_actions.RECORD_KEY: configured.stored()}
    again = Configured.of(kept, IDS)  # the next check of the step
    assert again.counts == [1, 0]
    launch_actions.read_more(in_home, again, lambda: True)
    assert again.counts == [1, 0, 0, 1, 0]
    assert again.stored()["Counts"] == "1x1,0x2,1x1,0x1"


def test_what_was_read_before_an_error_is_kept(serve, clock):
    faults = [{"operation": "ListLaunchActions", "error": "AccessDeniedException", "after": 60, "seconds": 60}]
    scenario = estate(5, faults=faults)
    scenario["servers"][0]["postLaunch"] = {"seconds": 30}
    environment = {
        "AWS_ENDPOINT_URL_DRS": serve(scenario).endpoint,
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        accounts.ORCHESTRATOR_ACCOUNT: ACCOUNT,
    }
    configured = Configured(IDS)

    def has_time() -> bool:
        if len(configured.counts) == 2:
            clock.advance(90)  # DRS starts refusing after two servers were read
        return True

    with patch.dict(os.environ, environment), pytest.raises(ClientError, match="AccessDeniedException"):
        launch_actions.read_more(in_home, configured, has_time)
    assert configured.counts == [1, 0]


def test_the_record_holds_two_thousand_servers_in_a_few_bytes_and_is_read_afresh_for_other_servers():
    ids = [server_id(n) for n in range(2000)]
    configured = Configured(ids, [1] * 1997 + [0, GONE, 2])
    stored = configured.stored()
    assert stored["Counts"] == "1x1997,0x1,-1x1,2x1" and len(str(stored)) < 100
    kept = {launch_actions.RECORD_KEY: stored}
    assert Configured.of(kept, ids).counts == configured.counts
    assert Configured.of(kept, ids[:-1]).counts == []  # another selection of servers: nothing of it was read
    assert Configured.of({launch_actions.RECORD_KEY: {**stored, "Counts": "1x2,zz"}}, ids).counts == []
