"""Seeded random schedules (plans, DRS and DynamoDB faults, Lambda timeouts, stops, races, lost events, runbook steps,
health checks, the drill cleanup and a resume), each checked against every invariant after its executions end.
`make test` runs a representative few (every kind of draw below appears among them); `make bench` runs 1,000
(bench/random_schedules.py). A failing seed is replayed with `pytest -k "seed-<n>"` and kept in REGRESSIONS."""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Any

import pytest

from drsctl.local.fault_cases import random_case, run_case

# Seeds that broke an invariant once, kept so the fix stays fixed: 37 (a timed-out wave's message lost its
# "What to do" to truncation).
REGRESSIONS = [37]
COUNT = int(os.environ.get("RANDOM_SCHEDULES", "40"))
SEEDS = list(dict.fromkeys([*REGRESSIONS, *range(1000, 1000 + COUNT)]))
# What the schedules draw, by the words their descriptions use: each appears among the seeds `make test` runs.
DRAWS = {
    "a stop": "stop ",
    "a second start of the plan": "a second start",
    "another plan sharing a server": "another plan shares",
    "lost status-change events": "events lost",
    "a Lambda killed or refused": "lambda LambdaFault",
    "a DynamoDB fault": "dynamodb DynamoDbFault",
    "a server fault": "launch_failure",
    "other tools holding the quota": "other tools hold",
    "a RECOVERY": "RECOVERY",
    "a hook": "Lambda {",
    "a callback": "WaitForCallback",
    "an approval": "Approval",
    "a wait": "Wait ",
    "a health check": "HealthCheck",
    "the drill cleanup": "DrillCleanup",
    "a resume": "resumed",
}


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed-{seed}" for seed in SEEDS])
def test_a_random_schedule_keeps_every_invariant(seed):
    case = random_case(seed)
    outcome = run_case(case)
    assert not outcome.violations, f"{case.name}\n{outcome.violations}"


def test_the_schedules_make_test_runs_draw_every_kind_of_fault_and_step():
    described = [random_case(seed).name for seed in SEEDS]
    missing = [draw for draw, words in DRAWS.items() if not any(words in name for name in described)]
    assert missing == [], f"no schedule among seeds {SEEDS[0]}..{SEEDS[-1]} draws {missing}"


def _outcome(seed: int) -> dict[str, Any]:
    outcome = run_case(random_case(seed))
    return {field.name: getattr(outcome, field.name) for field in fields(outcome) if field.name != "case"}


def test_a_schedule_replays_from_its_seed_by_outcome():
    # seed 1006: DRS throttled and answers lost, a Lambda cut off, DynamoDB faults, a callback hook, a failed launch
    # (PARTIAL), then its resume (COMPLETED)
    first = _outcome(1006)
    assert first == _outcome(1006)  # every status, message, count and violation
    assert first["executions"] == 2 and first["resumed_status"] is not None
