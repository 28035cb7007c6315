"""The example reports in docs/: `make report` regenerates them, and each committed screenshot shows what the page
shows now (the same figures and text, read from the DOM after layout; not the same pixels): the rehearsal of the
example plan, and a drill and a rejected drill as `drsctl run report` builds them (drsctl/local/gallery.py)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from drsctl.commands import example_report as example_module
from drsctl.report import browser, html
from drsctl.report.schema import report_schema

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_committed_screenshot_shows_the_example_as_it_renders_now(example, tmp_path):
    regenerated = browser.stable(_write(tmp_path, example))
    committed = browser.text_chunk((DOCS / "example-report.png").read_bytes(), browser.CONTENT_KEY)
    assert committed is not None, "docs/example-report.png carries no content: regenerate it with `make report`"
    assert json.loads(committed) == json.loads(json.dumps(regenerated)), "regenerate docs/ with `make report`"
    assert (tmp_path / "example-report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_committed_example_json_is_a_report():
    jsonschema.Draft202012Validator(report_schema()).validate(json.loads((DOCS / "example-report.json").read_text()))


def _write(folder: Path, report: dict) -> dict:
    report = {**report, "startedBy": example_module.STARTED_BY}
    return example_module.write(folder, report)


@pytest.mark.parametrize(
    ("name", "status", "decision"), [("drill", "COMPLETED", "APPROVE"), ("rejected", "FAILED", "REJECT")]
)
def test_the_committed_drill_screenshots_show_their_reports_as_they_render_now(name, status, decision, tmp_path):
    report = json.loads((DOCS / f"report-{name}.json").read_text())
    jsonschema.Draft202012Validator(report_schema()).validate(report)
    assert (report["source"], report["status"]) == ("deployed", status)
    (approval,) = [step for wave in report["waves"] for step in wave["steps"]]
    assert approval["decision"] == decision and report["cleanup"]["status"] == "COMPLETED"
    page = tmp_path / f"{name}.html"
    page.write_text((DOCS / f"report-{name}.html").read_text())
    assert page.read_text() == html.render(report), "regenerate docs/ with `make report`"
    with browser.browser() as running, browser.open_report(running, page) as loaded:
        shown = browser.stable(loaded.content())
    committed = browser.text_chunk((DOCS / f"report-{name}.png").read_bytes(), browser.CONTENT_KEY)
    assert committed is not None and json.loads(committed) == json.loads(json.dumps(shown))
    assert shown["banner"] is None  # a deployed drill's page: no rehearsal banner
