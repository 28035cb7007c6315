"""The page as text: one self-contained file, user text escaped, the same page from `rehearse --html` and from
`report REPORT.json --html`, and small enough at 2,000 servers."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from drsctl.cli import app
from drsctl.report import gantt, html


def test_the_page_fetches_nothing_and_runs_nothing(example, critical_failure, large):
    for report in (example, critical_failure, large):
        page = html.render(report)
        assert "<script" not in page and "<link" not in page and "<img" not in page and "@import" not in page
        urls = set(re.findall(r"https?://[^\s\"')]+", page))
        assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
        assert set(re.findall(r"url\(([^)]*)\)", page)) == {"#arrow", "#arrow-taken"}  # markers in the page


def test_user_text_is_escaped(critical_failure):
    page = html.render(critical_failure)
    assert "db &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;db-0&lt;/b&gt; &amp; co" in page
    assert "<b>db-0" not in page


def test_rehearse_and_report_write_the_same_page(tmp_path):
    rehearsed_json, rehearsed_html, rendered = tmp_path / "r.json", tmp_path / "r.html", tmp_path / "again.html"
    runner = CliRunner()
    wide = {"COLUMNS": "400"}
    result = runner.invoke(app, ["rehearse", "--json", str(rehearsed_json), "--html", str(rehearsed_html)], env=wide)
    assert result.exit_code == 0, result.output
    assert f"HTML report written to {rehearsed_html}" in result.output
    result = runner.invoke(app, ["report", str(rehearsed_json), "--html", str(rendered)])
    assert result.exit_code == 0, result.output
    assert rendered.read_text() == rehearsed_html.read_text()
    assert json.loads(rehearsed_json.read_text())["verdict"] in rendered.read_text()


def test_two_thousand_servers_render_into_a_small_page(large):
    page = html.render(large)  # how fast: bench/report_speed.py, not here (no speed bound in a test)
    timeline = gantt.render(large)
    assert len(page.encode()) < 2_500_000
    assert 'class="server"' not in timeline and timeline.count('class="density"') == 2
    assert page.count('<tr class="server"') == 2_000  # every server is still in its wave's table
