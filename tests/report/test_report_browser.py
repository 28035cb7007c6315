"""The report in a real browser: headless Chromium (the distribution's) loads each page with no console error and
no request beyond its own file, and the DOM after layout shows the bars, the highlighted states and the figures."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from drsctl.report import browser
from tests.report.conftest import LARGE_FAILING, LARGE_PER_WAVE, with_cleanup, write_page

GREEN, RED = "rgb(46, 125, 50)", "rgb(198, 40, 40)"


@pytest.fixture(scope="module")
def chromium():
    with browser.browser() as running:
        yield running


def check_self_contained(loaded: browser.LoadedPage, page: Path) -> None:
    assert loaded.console_errors == []
    assert loaded.requests == [page.resolve().as_uri()]


def test_the_example_shows_its_bars_states_and_figures(chromium, example, tmp_path):
    page = write_page(example, tmp_path, "example")
    with browser.open_report(chromium, page) as loaded:
        content = loaded.content()
        check_self_contained(loaded, page)
        loaded.page.emulate_media(media="print")
        breaks = loaded.page.evaluate(
            "[...document.querySelectorAll('section.page')].map((s) => getComputedStyle(s).breakBefore)"
        )
    assert content["scripts"] == 0
    assert content["figures"]["launched"] == "14 of 14" and content["figures"]["status"] == "COMPLETED"
    assert content["verdict"] == example["verdict"]
    assert [wave["status"] for wave in content["waves"]] == ["COMPLETED"] * 3
    for drawn, wave in zip(content["waves"], example["waves"], strict=True):
        assert len(drawn["servers"]) == len(wave["servers"])
        for server in drawn["servers"]:
            assert server["outcome"] == "LAUNCHED" and server["fill"] == GREEN
            assert server["bar"]["width"] > 0 and server["bar"]["height"] > 0
            # Each server's bar starts where its wave's does (StartRecovery) and ends within it.
            assert drawn["bar"]["x"] - 1 <= server["bar"]["x"]
            assert server["bar"]["x"] + server["bar"]["width"] <= drawn["bar"]["x"] + drawn["bar"]["width"] + 1
    # Waves run one after another: each bar starts where the one before ended.
    bars = [wave["bar"] for wave in content["waves"]]
    assert all(before["x"] + before["width"] <= after["x"] + 1 for before, after in itertools.pairwise(bars))
    # The RTO target (45 min) is drawn to the right of the last wave's end (29.5 min).
    assert content["rtoTarget"]["seconds"] == 2700
    assert content["rtoTarget"]["x"] > bars[-1]["x"] + bars[-1]["width"]
    highlighted = {name for name, state in content["states"].items() if state["highlighted"]}
    assert highlighted == set(example["stateCounts"])
    assert {name: content["states"][name]["entered"] for name in highlighted} == example["stateCounts"]
    assert all(state["visible"] for state in content["states"].values())
    assert content["transitionsTaken"] == len(example["transitionCounts"])
    assert [detail["rows"] for detail in content["waveDetails"]] == [4, 5, 5]
    assert breaks[1:] == ["page"] * (len(breaks) - 1)


def test_a_failed_critical_wave(chromium, critical_failure, tmp_path):
    page = write_page(critical_failure, tmp_path, "failed")
    with browser.open_report(chromium, page) as loaded:
        content = loaded.content()
        check_self_contained(loaded, page)
        label = loaded.page.text_content("#gantt-wave-1 .wave-label")
        hostname = loaded.page.text_content("#wave-1 tr.server td[data-field=hostname]")
    assert content["scripts"] == 0  # the wave named "<script>..." is text, not a script
    assert label == "1 db <script>alert(1)</script>" and hostname == "<b>db-0</b> & co"
    first, app, web = content["waves"]
    assert first["status"] == "FAILED" and app["status"] == web["status"] == "SKIPPED"
    assert app["bar"] is None and web["bar"] is None
    outcomes = {server["outcome"]: server["fill"] for server in first["servers"]}
    assert outcomes == {"LAUNCHED": GREEN, "FAILED": RED}
    assert [(step["kind"], step["status"]) for step in first["steps"]] == [
        ("Approval", "SUCCEEDED"),
        ("Wait", "SUCCEEDED"),
    ]
    assert all(step["bar"]["width"] > 0 for step in first["steps"])
    assert content["steps"][0] == {
        "kind": "Approval",
        "status": "SUCCEEDED",
        "decidedBy": "arn:aws:iam::123456789012:user/rehearsal-approver-1",
    }
    states = content["states"]
    assert states["Wave failed"]["highlighted"] and states["Ask for approval"]["entered"] == 1
    assert not states["Plan finished"]["highlighted"]
    assert content["waveDetails"][0]["rtoMet"] == "false" and content["waveDetails"][0]["rpoMet"] == "false"
    assert "FAILED" in content["verdict"] and "missed" in content["figures"]["rto"]


def test_two_thousand_servers_are_summarised(chromium, large, tmp_path):
    started = time.perf_counter()
    page = write_page(large, tmp_path, "large")
    with browser.open_report(chromium, page) as loaded:
        content = loaded.content()
        check_self_contained(loaded, page)
    seconds = time.perf_counter() - started
    assert seconds < 15, seconds
    for wave in content["waves"]:
        assert wave["servers"] == []  # no bar per server: a density strip instead
        assert wave["density"]["servers"] == LARGE_PER_WAVE
        failed = wave["density"]["shares"].get("FAILED", 0)
        assert wave["density"]["launched"] == LARGE_PER_WAVE - failed
        assert sum(wave["density"]["shares"].values()) == LARGE_PER_WAVE
    assert content["waves"][-1]["density"]["shares"]["FAILED"] == LARGE_FAILING
    assert content["serverRows"] == 2 * LARGE_PER_WAVE
    assert content["figures"]["launched"] == f"{2 * LARGE_PER_WAVE - LARGE_FAILING:,} of {2 * LARGE_PER_WAVE:,}"


def test_cleanup_health_checks_and_resume_are_shown(chromium, example, tmp_path):
    report = with_cleanup(example)
    page = write_page(report, tmp_path, "cleanup")
    with browser.open_report(chromium, page) as loaded:
        content = loaded.content()
        check_self_contained(loaded, page)
        resumed = loaded.page.text_content("#resumed-from")
    assert content["cleanup"] == {"status": "COMPLETED", "terminated": 14}
    # On the timeline too: a last row, after the last wave's end.
    last_wave = content["waves"][-1]["bar"]
    assert content["cleanupBar"]["status"] == "COMPLETED" and content["cleanupBar"]["width"] > 0
    assert content["cleanupBar"]["x"] > last_wave["x"] + last_wave["width"]
    assert ("HealthCheck", "Instances pass their status checks", "SUCCEEDED") in [
        (step["kind"], step["name"], step["status"]) for step in content["waves"][0]["steps"]
    ]
    assert {"kind": "HealthCheck", "status": "SUCCEEDED", "decidedBy": None} in content["steps"]
    assert "drill-2026-11-28-first-try" in resumed
