"""The fast subset of the fault matrix (bench/fault_matrix.py runs every case): one or more cases per family, each
through the real definition, handlers, emulator and engine, each checked against every invariant."""

from __future__ import annotations

from dataclasses import replace

import pytest

from drsctl.local.fault_cases import CASES, Case, Outcome, run_case
from drsctl.local.invariants import Violations

FAST = [case for case in CASES if case.fast]


def test_the_matrix_is_large_and_every_family_has_a_fast_case():
    families = {case.family for case in CASES}
    assert len(CASES) >= 60
    assert families == {case.family for case in FAST}


@pytest.mark.parametrize("case", FAST, ids=[f"{case.family}: {case.name}" for case in FAST])
def test_the_case_ends_as_expected_and_keeps_every_invariant(case):
    outcome = run_case(case)
    # the case's whole expectation, as bench/fault_matrix.py judges it: the record's status, the words of its
    # message and of its wave records, and the resume's status for a case that resumes
    assert outcome.unexpected() == [], outcome.message
    assert not outcome.violations, outcome.violations
    if case.then_resume:
        assert outcome.resumed_status is not None and outcome.executions >= 2


def test_an_outcome_is_judged_on_the_whole_expectation_the_resume_included():
    case = Case("resume", "a launch fails, then the resume", ("FAILED",), says=("LAUNCH_FAILED",), then_resume=True)
    outcome = Outcome(case, "FAILED", "FAILED", "s-1 LAUNCH_FAILED", 3, Violations(), 2, resumed_status="COMPLETED")
    assert outcome.unexpected() == [] and outcome.expected
    assert replace(outcome, resumed_status="FAILED").unexpected() == ["resume FAILED, expected COMPLETED"]
    assert replace(outcome, resumed_status=None).unexpected() == ["resume None, expected COMPLETED"]
    assert replace(outcome, record_status="COMPLETED").unexpected() == ["record COMPLETED, expected FAILED"]
    assert replace(outcome, message="s-1 failed").unexpected() == ["message without 'LAUNCH_FAILED': 's-1 failed'"]
    assert replace(outcome, resume_problems=["wave 2 relaunched"]).unexpected() == ["resume: wave 2 relaunched"]
    quota = replace(outcome, case=replace(case, waves_say=("L-D88FAC3A",)), waves_text='{"QuotaWaits": []}')
    assert quota.unexpected() == ["wave records without 'L-D88FAC3A'"]
    assert replace(quota, waves_text='{"QuotaWaits": ["L-D88FAC3A (Concurrent jobs in progress)"]}').expected
    assert not replace(outcome, resumed_status="FAILED").expected
    assert replace(outcome, problems=["no wave was cut short"]).unexpected() == ["no wave was cut short"]
