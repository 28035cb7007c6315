"""The catalogue itself: exactly the issue's eight codes, each with its metadata, a runner that knows none of them,
docs/readiness.md generated from the metadata, and plan schedules checked as EventBridge Scheduler reads them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from drsctl import readiness_docs
from lambdas.core import schedule_expression
from lambdas.core.errors import PlanValidationError
from lambdas.core.plan import parse_plan
from lambdas.core.readiness import runner
from lambdas.core.readiness.checks import CHECKS, CODES
from lambdas.core.readiness.estate import Estate, FactUnavailable
from lambdas.core.readiness.model import Check, Finding, status_of
from lambdas.core.readiness.reads import Where

ROOT = Path(__file__).resolve().parents[2]
ISSUE_CODES = (
    "REPLICATION_NOT_HEALTHY",
    "LAG_OVER_RPO",
    "SERVER_NOT_FOUND",
    "LAUNCH_CONFIG_INVALID",
    "CAPACITY_SHORT",
    "DRILL_OVERDUE",
    "RTO_AT_RISK",
    "LOCK_STALE",
)
PLAN = {
    "PlanId": "p",
    "Name": "P",
    "ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1", "SourceServerIds": ["s-00000000000000001"]}],
    "Waves": [{"WaveName": "w", "ProtectionGroupId": "g"}],
}


def test_the_catalogue_holds_exactly_the_issues_codes_one_module_each_with_its_metadata():
    assert CODES == ISSUE_CODES
    modules = {path.stem for path in (ROOT / "lambdas/core/readiness/checks").glob("*.py")} - {"__init__"}
    assert modules == {code.lower() for code in ISSUE_CODES}
    for check in CHECKS:
        assert check.run.__module__.endswith(check.code.lower()), check.code  # its code lives in its own module
        assert check.title and check.reads and check.remediation and check.link
        assert check.severity in ("FAIL", "WARN", "FAIL or WARN")


def test_the_runner_knows_no_check():
    tree = ast.parse((ROOT / "lambdas/core/readiness/runner.py").read_text())
    text = ast.unparse(tree)
    assert not any(code in text for code in ISSUE_CODES)
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(module and module.startswith("lambdas.core.readiness.checks.") for module in imported)


def test_a_check_that_cannot_read_gives_a_warning_of_its_own_code_never_silence():
    def unreadable(estate):
        raise FactUnavailable("DescribeSubnets in account 1, us-east-1", "AccessDenied", "grant it", Where("1", "r"))
        yield

    def fine(estate):
        return iter(())

    checks = (Check("A", "FAIL", "a", ("x",), "r", "l", unreadable), Check("B", "FAIL", "b", ("x",), "r", "l", fine))
    result = runner.evaluate(Estate(parse_plan(PLAN), now=0), checks)
    assert [(f.code, f.severity, f.region, f.fix) for f in result.findings] == [("A", "WARN", "r", "grant it")]
    assert "not evaluated" in result.findings[0].detail and "AccessDenied" in result.findings[0].detail
    assert result.status == "WARN"


def test_status_is_the_worst_finding():
    def finding(severity):
        return Finding(code="X", severity=severity, detail="d", fix="f")

    assert status_of([]) == "PASS"
    assert status_of([finding("WARN")]) == "WARN"
    assert status_of([finding("WARN"), finding("FAIL")]) == "FAIL"


def test_docs_readiness_md_is_generated_from_the_metadata():
    page = (ROOT / "docs" / "readiness.md").read_text()
    assert page == readiness_docs.render(), "run: python -m drsctl.readiness_docs"
    for check in CHECKS:
        assert f"### {check.code}" in page and check.remediation in page


@pytest.mark.parametrize(
    ("expression", "after", "timezone", "expected"),
    [
        ("rate(1 hour)", 1_767_225_600, None, 1_767_229_200),  # 2026-01-01T01:00Z
        ("rate(7 days)", 1_767_225_600, None, 1_767_830_400),
        ("cron(0 6 ? * MON#1 *)", 1_767_225_600, "Europe/Paris", 1_767_589_200),  # Mon 5 Jan 2026, 06:00 Paris
        ("cron(30 2 L * ? *)", 1_767_225_600, None, 1_769_826_600),  # 31 Jan 2026, 02:30 UTC
        ("cron(0 8 15W * ? 2026)", 1_767_225_600, None, 1_768_464_000),  # Thu 15 Jan 2026, 08:00
        ("cron(0/20 * * * ? *)", 1_767_225_600, None, 1_767_226_800),
    ],
)
def test_next_drill_times_as_scheduler_reads_the_expression(expression, after, timezone, expected):
    assert schedule_expression.next_time(expression, after, timezone=timezone) == expected


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ({"Expression": "rate(0 hours)"}, "at least 1"),
        ({"Expression": "rate(2 weeks)"}, "minute, minutes, hour, hours, day, days"),
        ({"Expression": "cron(0 6 * * * *)"}, "must be ?"),
        ({"Expression": "cron(0 25 ? * * *)"}, "hours '25'"),
        ({"Expression": "cron(0 6 ? *)"}, "six fields"),
        ({"Expression": "daily"}, "neither"),
        ({"Expression": "rate(1 day)", "Timezone": "Mars/Olympus"}, "IANA"),
        ({"Expression": "rate(1 day)", "ExecutionType": "RECOVERY"}, "a RECOVERY is never scheduled"),
        ({"Expression": "rate(1 day)", "Mode": "recovery"}, "a RECOVERY is never scheduled"),
        ({"Expression": "rate(1 day)", "ExecutionType": "DRILL"}, "remove Schedule.ExecutionType"),
        ({"Expression": "rate(1 day)", "Every": "day"}, "Extra inputs"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(schedule, words):
    with pytest.raises(PlanValidationError) as refused:
        parse_plan({**PLAN, "Schedule": schedule})
    assert "Schedule." in str(refused.value) and words in str(refused.value)


def test_a_recovery_is_never_scheduled():
    from lambdas.core.plan import parse_execution_input

    with pytest.raises(PlanValidationError, match="only a DRILL can be scheduled"):
        parse_execution_input({"PlanId": "p", "ExecutionType": "RECOVERY", "Scheduled": True, "Confirm": "RECOVER p"})
    assert parse_execution_input({"PlanId": "p", "ExecutionType": "DRILL", "Scheduled": True}).Scheduled is True
