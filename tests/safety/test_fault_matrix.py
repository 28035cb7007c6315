"""The fast subset of the fault matrix (bench/fault_matrix.py runs every case): one or more cases per family, each
through the real definition, handlers, emulator and engine, each checked against every invariant."""

from __future__ import annotations

import pytest

from drsctl.local.fault_cases import CASES, run_case

FAST = [case for case in CASES if case.fast]


def test_the_matrix_is_large_and_every_family_has_a_fast_case():
    families = {case.family for case in CASES}
    assert len(CASES) >= 60
    assert families == {case.family for case in FAST}


@pytest.mark.parametrize("case", FAST, ids=[f"{case.family}: {case.name}" for case in FAST])
def test_the_case_ends_as_expected_and_keeps_every_invariant(case):
    outcome = run_case(case)
    assert outcome.record_status in case.expect, outcome.message
    for word in case.says:
        assert word in outcome.message
    assert not outcome.violations, outcome.violations
    assert not outcome.problems, outcome.problems  # the case's own check of what the execution did
