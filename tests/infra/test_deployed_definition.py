"""The rehearsal runs the definition taken from the synthesized template, and its tables match the stack's.

The workflow tests rehearse the ASL file; tests/infra/test_stack.py holds the template's definition equal to it, byte
for byte, so they are not run a second time here (they were: every workflow test collected twice). This rehearses
the synthesized definition itself, with the ARNs its substitutions resolve to, on the happy path and on a failure.
"""

from __future__ import annotations

from drsctl.emulator import Scenario
from drsctl.local.rehearsal import local_aws
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

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}


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
