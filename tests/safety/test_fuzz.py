"""Hypothesis-generated malformed plans and execution inputs: always a clear error or a correct run.

Never an unhandled exception, never a launch after a failed validation, never a record left non-terminal.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import boto3
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from drsctl.emulator import Scenario
from drsctl.local.rehearsal import local_aws
from lambdas.core.errors import OrchestratorError
from lambdas.core.finish import Failure, finish
from lambdas.core.prepare import prepare
from tests.workflow.conftest import run, three_tier_scenario, three_wave_plan

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
CLEAR_ERRORS = ("PlanValidationError", "PlanNotFoundError", "ExecutionConflictError")


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated_plans(draw: st.DrawFn) -> dict[str, Any]:
    plan = copy.deepcopy(three_wave_plan())
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(plan)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = plan
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["delete", "replace", "duplicate-server", "swap-region"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(JSON)
        elif action == "duplicate-server" and isinstance(plan.get("Waves"), list) and plan["Waves"]:
            wave = plan["Waves"][-1]
            if isinstance(wave, dict):
                wave["ServerIds"] = ["s-00000000000000db0"]
        elif action == "swap-region" and isinstance(plan.get("ProtectionGroups"), list) and plan["ProtectionGroups"]:
            group = plan["ProtectionGroups"][0]
            if isinstance(group, dict):
                group["Region"] = draw(st.sampled_from(["us-west-2", "eu-west-1", "us-east-1"]))
    return plan


EXECUTION_INPUTS = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"Plan": mutated_plans(), "ExecutionType": st.sampled_from(["DRILL", "RECOVERY", "drill", 3])},
        optional={"Options": JSON, "Confirm": st.sampled_from(["RECOVER shop", "yes", None])},
    ),
    st.fixed_dictionaries({"PlanId": st.text(max_size=12) | JSON, "ExecutionType": st.just("DRILL")}),
)


def _records_are_terminal() -> list[str]:
    items = boto3.resource("dynamodb", region_name="us-east-1").Table("ExecutionHistory").scan()["Items"]
    return [f"{item['ExecutionId']}={item['Status']}" for item in items if item["Status"] in ("PENDING", "POLLING")]


def test_prepare_gives_a_clear_error_or_a_valid_preparation_and_the_record_always_ends():
    names = itertools.count()
    with local_aws(Scenario.model_validate(three_tier_scenario())) as aws:

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(EXECUTION_INPUTS)
        def check(execution_input: Any) -> None:
            execution_id = f"fuzz-{next(names)}"
            failure = None
            try:
                prepare(raw_input=execution_input, execution_id=execution_id, execution_arn=None, now=1_767_225_600)
            except OrchestratorError as error:
                assert type(error).__name__ in CLEAR_ERRORS
                assert str(error).strip()
                failure = Failure(Error=type(error).__name__, Cause=str(error))
            finish(execution_id=execution_id, raw_input=execution_input, failure=failure, now=1_767_225_700)
            assert aws.drs.calls["StartRecovery"] == 0  # Prepare never launches
            assert _records_are_terminal() == []
            assert boto3.resource("dynamodb", region_name="us-east-1").Table("ExecutionLocks").scan()["Items"] == []

        check()


def test_whole_rehearsals_of_mutated_plans_end_clearly_and_never_launch_after_a_failed_validation():
    names = itertools.count()
    with local_aws(Scenario.model_validate(three_tier_scenario())) as aws:

        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        @given(mutated_plans())
        @example(three_wave_plan())  # the success path, every time
        def check(plan: dict[str, Any]) -> None:
            name = f"fuzz-run-{next(names)}"
            launched_before = aws.drs.calls["StartRecovery"]
            described, _ = run(aws, {"Plan": plan, "ExecutionType": "DRILL"}, name)
            if described["status"] == "FAILED" and described["error"] in CLEAR_ERRORS:
                assert aws.drs.calls["StartRecovery"] == launched_before
                assert described["cause"].strip()
            else:
                assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
            assert _records_are_terminal() == []
            per_server = [
                sum(
                    1
                    for job in aws.drs.jobs.values()
                    if job.tags.get("ExecutionId") == name
                    for p in job.participants
                    if p.source_server_id == s
                )
                for s in {p.source_server_id for job in aws.drs.jobs.values() for p in job.participants}
            ]
            assert max(per_server, default=0) <= 1
            aws.clock.advance(3600)  # let every job finish before the next example needs its servers

        check()
