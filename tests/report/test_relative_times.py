"""Times relative to an execution's start, as the CLI's tables and the report page write them: `+HH:MM:SS` after the
start, `-HH:MM:SS` before it, one sign for the whole (a resumed execution's approval once read `+-1:59:59`)."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime

import pytest
from rich.console import Console

from drsctl.commands.views import clock_text, servers_tables, timeline_table
from drsctl.local.figures import Report
from drsctl.report import audit, html, svg

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp() + 0.6  # Step Functions' startDate has milliseconds
BOTH_SIGNS = re.compile(r"\+-|-\+")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "+00:00:00"),
        (0.4, "+00:00:00"),
        (3599.6, "+01:00:00"),
        (-0.6, "-00:00:01"),
        (-1, "-00:00:01"),
        (-7199, "-01:59:59"),
        (-3600, "-01:00:00"),
        (-90061, "-25:01:01"),
        (None, "-"),
    ],
)
def test_a_time_before_the_start_carries_one_minus_sign(seconds, shown):
    assert clock_text(seconds) == svg.clock(seconds) == shown


def test_a_step_a_resume_asks_in_its_first_second_reads_as_the_start():
    """The record keeps whole seconds: an approval asked in the start's own second is stamped up to 0.999 s before
    the startDate. It was asked at the start (+00:00:00), not a second before it."""
    step = {"Phase": "BEFORE", "Index": 0, "Kind": "Approval", "Name": "Change board", "Status": "SUCCEEDED"}
    facts = audit.step_facts({**step, "StartedAt": int(START), "EndedAt": int(START) + 360}, _since)
    assert facts["startedAt"] == 0.0 and facts["endedAt"] == pytest.approx(359.4)
    earlier = audit.step_facts({**step, "StartedAt": int(START) - 7200, "EndedAt": int(START) - 7199}, _since)
    assert earlier["startedAt"] == pytest.approx(-7200.6)  # a time really before the start stays before it


def test_times_before_the_start_read_with_a_minus_in_the_tables_and_the_page(example):
    report = copy.deepcopy(example)
    wave = report["waves"][0]
    wave["steps"] = [
        {
            **audit.step_facts(
                {"Phase": "BEFORE", "Index": 0, "Kind": "Wait", "Name": "Settle", "Status": "SUCCEEDED"}, _since
            ),
            "startedAt": -7199.0,
            "endedAt": -1.0,
        }
    ]
    wave["servers"][0]["recoveryPointAt"] = -7199.0  # recovered from a point two hours before the start
    console = Console(width=200, record=True)
    figures = Report.from_dict(report)
    console.print(timeline_table(figures))
    for table in servers_tables(figures, 80):
        console.print(table)
    shown = console.export_text()
    assert "-01:59:59" in shown and "-00:00:01" in shown
    page = html.render(report)
    assert "-01:59:59" in page
    assert not BOTH_SIGNS.search(shown) and not BOTH_SIGNS.search(page)


def _since(moment: float | None) -> float | None:
    return None if moment is None else round(moment - START, 1)
