"""`make report` (`python -m drsctl.commands.example_report`): the example report in docs/, from examples/plan.yaml and
examples/scenario.yaml. It rehearses, then renders: here among the commands, so the report package only reads reports
and records (drsctl/report never runs a rehearsal).

Writes docs/example-report.json (the JSON), docs/example-report.html (the page) and docs/example-report.png (a
screenshot by headless Chromium, carrying what the page showed in a PNG text chunk: a test regenerates the report
and checks the page still shows the same figures and text).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from drsctl.emulator.scenario import load_scenario
from drsctl.local.run import rehearse
from drsctl.report import browser, html
from lambdas.core.plan import parse_plan

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
STARTED_BY = "make report (examples/plan.yaml, examples/scenario.yaml)"


def example_report() -> dict[str, Any]:
    """Rehearse the bundled example and return its report's JSON."""
    plan = parse_plan(yaml.safe_load((EXAMPLES / "plan.yaml").read_text()), "examples/plan.yaml")
    report = rehearse(plan, load_scenario(EXAMPLES / "scenario.yaml"), "DRILL")
    report.startedBy = STARTED_BY  # the same on every machine
    return report.to_dict()


def write(folder: Path = DOCS, report: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the example's JSON, page and screenshot into `folder`; returns what the screenshot shows."""
    report = report if report is not None else example_report()
    (folder / "example-report.json").write_text(json.dumps(report, indent=2) + "\n")
    page = folder / "example-report.html"
    page.write_text(html.render(report))
    with browser.browser() as running, browser.open_report(running, page) as loaded:
        return browser.screenshot_with_content(loaded, folder / "example-report.png")


def main() -> None:
    write()
    for name in ("json", "html", "png"):
        print(f"wrote docs/example-report.{name}")


if __name__ == "__main__":
    main()
