"""The rehearsal runs the definition taken from the synthesized template, and its tables match the stack's.

Every workflow test runs again here with `stage` serving the synthesized definition instead of the ASL file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from drsctl.emulator import Scenario
from drsctl.local.rehearsal import LocalAws, local_aws
from drsctl.local.tables import TABLE_NAMES
from drsctl.local.tables import TABLES as LOCAL_TABLES
from stacks.tables import TABLES as STACK_TABLES
from tests.infra.test_stack import deployed_definition
from tests.workflow.conftest import (
    APP,
    load,
    run,
    start_recovery_waves,
    three_tier_scenario,
    three_wave_plan,
    with_server_faults,
)
from tests.workflow.test_workflow import *  # noqa: F403 - the same workflow tests, collected again below

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}


@pytest.fixture
def stage(resources: Any) -> Iterator[Callable[[dict[str, Any]], AbstractContextManager[LocalAws]]]:
    """Like tests/conftest.py's stage, but running the definition from the synthesized template."""
    definition = deployed_definition(resources)

    def _stage(scenario: dict[str, Any]) -> AbstractContextManager[LocalAws]:
        return local_aws(Scenario.model_validate(scenario), definition=definition)

    yield _stage


def test_the_synthesized_definition_runs_the_happy_path_and_stops_on_a_critical_failure(resources):
    definition = deployed_definition(resources)
    with local_aws(Scenario.model_validate(three_tier_scenario()), definition=definition) as aws:
        load(aws, three_wave_plan())
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert aws.record("exec-1", "shop").Status == "COMPLETED"
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    with local_aws(Scenario.model_validate(scenario), definition=definition) as aws:
        load(aws, three_wave_plan())
        described, _ = run(aws, DRILL)
        assert described["error"] == "WaveFailed"
        assert start_recovery_waves(aws) == ["1", "2"]


def test_rehearsal_tables_have_the_stacks_keys():
    assert set(TABLE_NAMES) == {variable for variable, _, _ in STACK_TABLES.values()}
    for name, (variable, partition, sort) in STACK_TABLES.items():
        assert TABLE_NAMES[variable] == name
        keys = LOCAL_TABLES[variable]["KeySchema"]
        assert keys[0]["AttributeName"] == partition[0]
        assert (keys[1]["AttributeName"] if len(keys) > 1 else None) == (sort[0] if sort else None)
