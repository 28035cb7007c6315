"""Seeded random schedules (plans, DRS and DynamoDB faults, Lambda timeouts, stops, races, lost events), each checked
against every invariant after its executions end. `make bench` runs 1,000 (bench/random_schedules.py); a failing
seed is replayed with `pytest -k "seed-<n>"` and kept in REGRESSIONS."""

from __future__ import annotations

import os

import pytest

from drsctl.local.fault_cases import random_case, run_case

# Seeds that broke an invariant once, kept so the fix stays fixed: 37 (a timed-out wave's message lost its
# "What to do" to truncation).
REGRESSIONS = [37]
COUNT = int(os.environ.get("RANDOM_SCHEDULES", "200"))
SEEDS = list(dict.fromkeys([*REGRESSIONS, *range(1000, 1000 + COUNT)]))


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed-{seed}" for seed in SEEDS])
def test_a_random_schedule_keeps_every_invariant(seed):
    case = random_case(seed)
    outcome = run_case(case)
    assert not outcome.violations, f"{case.name}\n{outcome.violations}"


def test_a_schedule_replays_from_its_seed():
    assert random_case(7).name == random_case(7).name
    assert random_case(7).name != random_case(8).name
