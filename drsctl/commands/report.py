"""`drsctl report REPORT.json --html FILE`: the drill report page from a rehearsal's (or a run's) JSON.

The page is the same one `drsctl rehearse --html` writes: both go through `write_html`. The report package is
imported when the command runs, so `drsctl --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from drsctl.commands.common import console, fail_invalid


def write_html(report: dict[str, Any], path: Path) -> None:
    """Render a report's JSON (checked against the schema) to a self-contained HTML file."""
    from drsctl.commands.inputs import write_text
    from drsctl.report import html

    write_text(path, html.render(report), "HTML report")


def report(
    report_json: Annotated[
        Path, typer.Argument(metavar="REPORT.json", help="The JSON a rehearsal wrote (drsctl rehearse --json FILE).")
    ],
    html_file: Annotated[Path, typer.Option("--html", help="Write the report page (one self-contained HTML file).")],
) -> None:
    """Render a drill report as one HTML page: summary, timeline, path taken, waves and servers, RTO and RPO.

    Exit code 0 when the page is written, 2 for invalid input (a file that is not a report, a path that cannot be
    written).
    """
    from drsctl.commands.inputs import check_writable
    from drsctl.report.model import ReportError, load

    check_writable(html_file, "HTML report")
    try:
        data = load(report_json)
    except ReportError as error:
        raise fail_invalid(str(error)) from error
    write_html(data, html_file)
    console().print(f"report written to {html_file}")
