"""The report in a real browser: headless Chromium (the distribution's) loads each page with no console error and
no request beyond its own file, and the DOM after layout shows the bars, the highlighted states and the figures."""

from __future__ import annotations

import itertools
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
        folded = loaded.content()
        browser.open_appendices(loaded)
        content = loaded.content()
        check_self_contained(loaded, page)
        loaded.page.emulate_media(media="print")
        breaks = loaded.page.evaluate(
            "[...document.querySelectorAll('section.page')].map((s) => getComputedStyle(s).breakBefore)"
        )
    assert folded["appendices"] == [False, False] and content["appendices"] == [True, True]
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


def test_the_plan_view_shows_each_wave_and_step_in_order_with_what_it_did(
    chromium, example, critical_failure, tmp_path
):
    page = write_page(example, tmp_path, "example")
    with browser.open_report(chromium, page) as loaded:
        content = loaded.content()
    waves = content["planView"]
    assert [(w["wave"], w["name"], w["status"]) for w in waves] == [
        (1, "databases", "COMPLETED"),
        (2, "application", "COMPLETED"),
        (3, "web", "COMPLETED"),
    ]
    assert [w["top"] for w in waves] == sorted(w["top"] for w in waves)  # drawn in plan order
    for drawn, wave in zip(waves, example["waves"], strict=True):
        (launch,) = drawn["rows"]  # no runbook steps: the launch alone
        assert (launch["phase"], launch["kind"], launch["outcome"]) == ("LAUNCH", "Launch", "COMPLETED")
        assert launch["seconds"] == wave["endedAt"] - wave["startedAt"] > 0
        servers = len(wave["servers"])
        checks = wave["activity"]["jobChecks"]
        assert launch["what"] == (
            f"StartRecovery for {servers} server(s) in 1 DRS job(s); DRS checked {checks} time(s). {servers} launched."
        )
        # The bar sits inside its track where the launch ran in the execution
        bar, track = launch["bar"], launch["track"]
        assert track["x"] - 1 <= bar["x"] and bar["x"] + bar["width"] <= track["x"] + track["width"] + 1
        expected = wave["startedAt"] / example["makespanSeconds"] * track["width"] + track["x"]
        assert abs(bar["x"] - expected) <= 2
    assert [s["stage"] for s in content["planStages"]] == ["start", "end"]
    assert "recovered at +00:29:27 (the RTO's measure)" in content["planStages"][-1]["text"]

    page = write_page(critical_failure, tmp_path, "failed")
    with browser.open_report(chromium, page) as loaded:
        content = loaded.content()
    first, app, web = content["planView"]
    rows = [(r["phase"], r["kind"], r["outcome"]) for r in first["rows"]]
    assert rows == [("BEFORE", "Approval", "APPROVED"), ("BEFORE", "Wait", "SUCCEEDED"), ("LAUNCH", "Launch", "FAILED")]
    assert [r["top"] for r in first["rows"]] == sorted(r["top"] for r in first["rows"])
    approval, wait, launch = first["rows"]
    assert (
        approval["what"].startswith("Asked at 00:00:00 UTC")
        and f"Approved by {critical_failure['waves'][0]['steps'][0]['decidedBy']}" in approval["what"]
    )
    assert wait["what"] == "Waited 2m00s as the plan says." and wait["seconds"] == 120
    assert "1 failed" in launch["what"] and "(LAUNCH_FAILED: 1)" in launch["what"]
    assert app["rows"] == web["rows"] == [] and app["skipped"].startswith("Not started")


def test_a_rehearsal_is_unmistakable_on_screen_and_in_print(chromium, rejected, tmp_path):
    page = write_page(rejected, tmp_path, "rejected")
    with browser.open_report(chromium, page) as loaded:
        content = loaded.content()
        check_self_contained(loaded, page)
        loaded.page.mouse.wheel(0, 2500)  # scrolled down, the banner stays in view
        loaded.page.wait_for_function("window.scrollY > 1000")
        in_view = loaded.page.evaluate("document.querySelector('#rehearsal-banner').getBoundingClientRect().top")
        loaded.page.emulate_media(media="print")
        printed = loaded.content()
        margin_rules = loaded.page.evaluate(
            "[...document.styleSheets].flatMap((s) => [...s.cssRules]).filter((r) => r instanceof CSSPageRule)"
            ".map((r) => r.cssText).join(' ')"
        )
    assert content["title"].startswith("REHEARSAL, not a drill on AWS: ")
    assert content["banner"]["text"] == "REHEARSAL, not a drill on AWS" and content["banner"]["height"] > 40
    assert content["banner"]["position"] == "sticky" and in_view == 0
    assert printed["banner"]["position"] == "static" and printed["banner"]["height"] > 40
    assert "@top-center" in margin_rules and "REHEARSAL, not a drill on AWS" in margin_rules  # on every page
    # The rejection: the plan view, the targets and who decided
    (approval,) = content["planView"][0]["rows"]
    assert (approval["kind"], approval["outcome"]) == ("Approval", "REJECTED")
    assert approval["what"].startswith("Asked at 00:00:00 UTC") and "Rejected by " in approval["what"]
    assert all(wave["skipped"] for wave in content["planView"][1:])
    assert content["figures"]["rpo"] == "15m00s: not judged: no server launched"
    assert content["figures"]["rto"] == "45m00s: missed" and content["figures"]["recovered"] == "not recovered"
    assert [e["event"] for e in content["audit"]] == ["started", "approval", "ended", "generated"]
    decided_by = rejected["waves"][0]["steps"][0]["decidedBy"]  # the approver's ARN, where the record keeps it
    assert content["steps"] == [
        {"kind": "Approval", "status": "REJECTED", "decidedBy": decided_by, "decision": "REJECT"}
    ]


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
        "decision": "APPROVE",
    }
    states = content["states"]
    assert states["Wave failed"]["highlighted"] and states["Ask for approval"]["entered"] == 1
    assert not states["Plan finished"]["highlighted"]
    assert content["waveDetails"][0]["rtoMet"] == "false" and content["waveDetails"][0]["rpoMet"] == "false"
    assert "FAILED" in content["verdict"] and "missed" in content["figures"]["rto"]


def test_two_thousand_servers_are_summarised(chromium, large, tmp_path):
    page = write_page(large, tmp_path, "large")
    with browser.open_report(chromium, page) as loaded:
        content = loaded.content()
        check_self_contained(loaded, page)
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
    assert {"kind": "HealthCheck", "status": "SUCCEEDED", "decidedBy": None, "decision": None} in content["steps"]
    assert "drill-2026-11-28-first-try" in resumed
