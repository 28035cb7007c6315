"""The example report in docs/: `make report` regenerates it, and the committed screenshot shows what the page shows
now (the same figures and text, read from the DOM after layout; not the same pixels)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from drsctl.commands import example_report as example_module
from drsctl.report import browser
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
