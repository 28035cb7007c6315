"""Reading a report's JSON: parse it, check it against the schema, and say in one line what is wrong if it is not
a report (never a traceback)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema

from drsctl.report.schema import report_schema

PROBLEMS_SHOWN = 3
MESSAGE_MAX = 160


class ReportError(ValueError):
    """A file that is not a drill report; the message names the file, the field and the fix."""


def problems(report: object) -> list[str]:
    """What is wrong with a report's JSON, one line each, field paths first ([] when it is a report)."""
    validator = jsonschema.Draft202012Validator(report_schema())
    found = []
    for error in sorted(validator.iter_errors(report), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        message = " ".join(error.message.split())
        found.append(f"{where}: {message if len(message) <= MESSAGE_MAX else message[: MESSAGE_MAX - 1] + '…'}")
    return found


def load(path: Path) -> dict[str, Any]:
    """A report's JSON from a file `drsctl rehearse --json` (or `run report --json`) wrote."""
    fix = "give the JSON that `drsctl rehearse --json FILE` wrote"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ReportError(f"{path}: no such file; {fix}") from error
    except IsADirectoryError as error:
        raise ReportError(f"{path}: is a folder, not a report file; {fix}") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"{path}: cannot be read ({type(error).__name__}); {fix}") from error
    try:
        report = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise ReportError(f"{path}: not JSON ({where}: {error.msg}); {fix}") from error
    except RecursionError as error:
        raise ReportError(f"{path}: not a drill report (nested too deeply); {fix}") from error
    except ValueError as error:  # NaN, Infinity, or a number too large to be a time
        raise ReportError(f"{path}: not a drill report ({error}); {fix}") from error
    if not isinstance(report, dict):
        raise ReportError(f"{path}: not a drill report (the JSON is not an object); {fix}")
    found = problems(report)
    if found:
        shown = "; ".join(found[:PROBLEMS_SHOWN]) + (f"; and {len(found) - PROBLEMS_SHOWN} more" if found[3:] else "")
        raise ReportError(f"{path}: not a drill report ({shown}); {fix}")
    return report


def _no_constant(name: str) -> float:
    """JSON has no NaN or Infinity (Python's json writes them; a report never holds them)."""
    raise ValueError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value
