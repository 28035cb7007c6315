"""How fast the report renders and opens: the 2,000-server report (2 waves of 1,000, three OPTIONAL servers failed)
rendered to HTML, and opened, laid out and read in headless Chromium (make chromium).
Run: .venv/bin/python bench/report_speed.py [--repeats 3]

Medians over the repeats, against the goals (rendering under 2 s, the browser under 15 s): exit code 1 when a goal is
missed. The machines are shared: run it on a quiet one before reading much into a figure. The tests check what the
pages hold, never how fast (a starved test worker would turn a speed bound into a flake).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drsctl.local.run import rehearse
from drsctl.report import browser, html
from tests.report.conftest import large_case

RENDER_GOAL_SECONDS = 2.0
BROWSER_GOAL_SECONDS = 15.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    plan, scenario = large_case()
    report = rehearse(plan, scenario, "DRILL").to_dict()
    renders, opens = [], []
    with tempfile.TemporaryDirectory() as folder, browser.browser() as running:
        page = Path(folder) / "large.html"
        for _ in range(arguments.repeats):
            started = time.perf_counter()
            rendered = html.render(report)
            renders.append(time.perf_counter() - started)
            page.write_text(rendered)
            started = time.perf_counter()
            with browser.open_report(running, page) as loaded:
                loaded.content()
            opens.append(time.perf_counter() - started)
    render, opened = statistics.median(renders), statistics.median(opens)
    print(f"2,000-server report: {len(rendered.encode()):,} bytes of HTML")
    print(f"render: {render:.2f} s (goal < {RENDER_GOAL_SECONDS:g} s); runs {[round(s, 2) for s in renders]}")
    print(
        f"browser open + read: {opened:.2f} s (goal < {BROWSER_GOAL_SECONDS:g} s); runs {[round(s, 2) for s in opens]}"
    )
    return 0 if render < RENDER_GOAL_SECONDS and opened < BROWSER_GOAL_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
