"""`drsctl rehearse` output an operator can read: at 80 columns, piped, with user text printed as written.

One rehearsal (a failing server, wave names and a hostname that look like rich markup) feeds every test: the CLI at
80 columns, and the tables rendered on consoles of 80 and 160 columns.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from drsctl.cli import app
from drsctl.commands.views import NOT_LAUNCHED_SHOWN, not_launched_lines, servers_tables, timeline_table
from drsctl.local.figures import Report, ServerFigures, WaveFigures

ROOT = Path(__file__).resolve().parents[1]
ID = re.compile(r"\b(?:s|i)-[0-9a-zA-Z]{17}\b|\bdrsjob-[0-9a-zA-Z]{17}\b")
TIME = re.compile(r"\+\d\d:\d\d:\d\d")


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory):
    """The CLI run at 80 columns with --servers and --json; returns (output, report dict, scenario dict)."""
    folder = tmp_path_factory.mktemp("markup")
    plan = yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text())
    plan["Waves"][0]["WaveName"] = "[/]"
    plan["Waves"][2]["WaveName"] = "[eu] web tier"
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    scenario["servers"][0]["hostname"] = "[bold]db-1[/]"
    scenario["servers"][-1]["faults"] = ["launch_failure"]
    (folder / "plan.yaml").write_text(yaml.safe_dump(plan))
    (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    report_path = folder / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "rehearse",
            str(folder / "plan.yaml"),
            "--scenario",
            str(folder / "scenario.yaml"),
            "--servers",
            "--json",
            str(report_path),
        ],
        env={"COLUMNS": "80"},
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output  # PARTIAL: the web wave is OPTIONAL
    return result.output, json.loads(report_path.read_text()), scenario


@pytest.fixture(scope="module")
def report(rehearsed) -> Report:
    _, data, _ = rehearsed
    return Report.from_dict(data)


def test_user_text_that_looks_like_markup_is_printed_as_written(rehearsed):
    output, _, _ = rehearsed
    assert "prepared: 3 wave(s) ([/], application, [eu] web tier)" in output
    assert "1 [/]" in output and "3 [eu] web tier" in output  # the timeline
    assert "Wave 3: [eu] web tier" in output  # the title of the wave's servers table
    assert "[bold]db-1[/]" in output


def test_at_80_columns_no_line_is_longer_and_no_id_or_time_is_cut(rehearsed):
    output, data, scenario = rehearsed
    assert "…" not in output
    assert max(len(line) for line in output.splitlines()) <= 80
    shown = set(ID.findall(output))
    servers = [s for wave in data["waves"] for s in wave["servers"]]
    assert {s["id"] for s in scenario["servers"]} <= shown
    assert {s["jobId"] for s in servers} <= shown
    assert {s["recoveryInstanceId"] for s in servers if s["recoveryInstanceId"]} <= shown
    for wave in data["waves"]:  # every wave's start and end in the timeline, whole
        assert TIME.search(output) is not None
        assert f"+00:{int(wave['endedAt']) // 60 % 60:02d}:" in output


def test_failure_reasons_and_hostnames_are_in_the_progress_and_the_report(rehearsed):
    output, data, scenario = rehearsed
    failed, host = scenario["servers"][-1]["id"], scenario["servers"][-1]["hostname"]
    assert f"{failed} ({host}) FAILED: LAUNCH_FAILED" in output
    server = next(s for wave in data["waves"] for s in wave["servers"] if s["sourceServerId"] == failed)
    assert (server["hostname"], server["error"], server["status"]) == (host, "LAUNCH_FAILED", "FAILED")
    first = data["waves"][0]["servers"][0]
    assert first["hostname"] == "[bold]db-1[/]"


def render(renderable, width: int) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, markup=False, emoji=False, color_system=None).print(renderable)
    return buffer.getvalue()


@pytest.mark.parametrize("width", [80, 100, 160])
def test_server_tables_keep_ids_and_times_whole_at_any_width(report, width):
    text = "".join(render(table, width) for table in servers_tables(report, width))
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    for wave in report.waves:
        for server in wave.servers:
            assert server.sourceServerId in text
            assert server.jobId in text
    assert "LAUNCH_FAILED" in text


def test_piped_width_puts_each_server_on_one_line(report):
    text = "".join(render(table, 160) for table in servers_tables(report, 160))
    failed = next(s for w in report.waves for s in w.servers if s.error)
    line = next(line for line in text.splitlines() if failed.sourceServerId in line)
    assert all(part in line for part in (failed.hostname or "", "FAILED", "LAUNCH_FAILED", failed.jobId or "-"))


def test_the_timeline_fits_80_columns_with_times_whole(report):
    text = render(timeline_table(report), 80)
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert len(TIME.findall(text)) == 3 * len(report.waves)


def test_servers_not_launched_are_listed_per_wave_with_a_limit(report):
    failed = next(s for w in report.waves for s in w.servers if s.error)
    lines = not_launched_lines(report)
    assert lines[0] == "wave 3 ([eu] web tier): 1 server(s) not launched"
    assert lines[1] == f"  {failed.sourceServerId} ({failed.hostname}) FAILED: LAUNCH_FAILED, job {failed.jobId}"
    many = [
        ServerFigures(f"s-{n:017d}", "FAILED", "LAUNCH_FAILED", None, None, 0.0, None, "LAUNCH_FAILED", f"h{n}")
        for n in range(NOT_LAUNCHED_SHOWN + 5)
    ]
    big = Report(**{**report.__dict__, "waves": [WaveFigures("big", "FAILED", 0.0, 1.0, many)]})
    lines = not_launched_lines(big)
    assert len(lines) == 1 + NOT_LAUNCHED_SHOWN + 1
    assert lines[-1] == "  ... and 5 more (--servers lists every server)"
