"""Reading the files a user gives: plans, scenarios, and where a report goes. Every way a file can be wrong ends in
a message that names the file (and the line, or the field) and says what to do, with exit code 2.

A `.json` file is parsed as JSON, anything else as YAML (of which JSON is a subset), so a trailing comma in a JSON
plan is reported as the JSON error it is, with its line and column.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from drsctl.commands.common import fail_invalid

if TYPE_CHECKING:
    from drsctl.emulator.scenario import Scenario
    from lambdas.core.plan import RecoveryPlan

WHAT_A_PLAN_NEEDS = "a plan needs PlanId, Name, ProtectionGroups and Waves (docs/plan-format.md)"


def read_text(path: Path, what: str) -> str:
    """The file's text, or exit 2 with a message that says why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise fail_invalid(f"{what} file not found: {path}") from error
    except IsADirectoryError as error:
        raise fail_invalid(f"{path} is a directory, not a {what} file: give the path of a YAML or JSON file") from error
    except PermissionError as error:
        raise fail_invalid(f"{path}: permission denied; make the {what} file readable") from error
    except UnicodeDecodeError as error:
        byte = error.object[error.start : error.start + 1].hex()
        raise fail_invalid(
            f"{path} is not UTF-8 text (byte 0x{byte} at offset {error.start}): save the {what} file as UTF-8"
        ) from error
    except OSError as error:
        raise fail_invalid(f"{path}: cannot read the {what} file ({error.strerror or error})") from error


def parse_document(text: str, path: Path, what: str) -> Any:
    """JSON for a .json file, YAML otherwise; a syntax error names the file, the line and the column."""
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        stream = io.StringIO(text)
        stream.name = str(path)  # PyYAML names the stream in its messages, not "<unicode string>"
        return yaml.safe_load(stream)
    except json.JSONDecodeError as error:
        raise fail_invalid(
            f"{path}, line {error.lineno}, column {error.colno}: not valid JSON: {error.msg}; fix the {what} file"
        ) from error
    except yaml.MarkedYAMLError as error:
        raise fail_invalid(f"{path}{_yaml_problem(error)}; fix the {what} file") from error
    except yaml.YAMLError as error:
        raise fail_invalid(f"{path}: not valid YAML: {' '.join(str(error).split())}") from error
    except RecursionError as error:
        raise fail_invalid(f"{path}: nested too deeply to read; this is not a {what} file") from error


def _yaml_problem(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context = f" ({error.context})" if error.context else ""
    return f"{where}: not valid YAML: {error.problem or 'cannot parse'}{context}"


def read_plan(path: Path) -> RecoveryPlan:
    from lambdas.core.errors import PlanValidationError
    from lambdas.core.plan import parse_plan

    raw = parse_document(read_text(path, "plan"), path, "plan")
    try:
        return parse_plan(raw, str(path))
    except PlanValidationError as error:
        raise fail_invalid("\n".join(error.problems)) from error


def read_scenario(path: Path | None) -> Scenario:
    """The scenario in `path`; none, or an empty file, is an empty estate with the default settings."""
    from pydantic import ValidationError

    from drsctl.emulator.scenario import Scenario

    if path is None:
        return Scenario()
    raw = parse_document(read_text(path, "scenario"), path, "scenario")
    if raw is not None and not isinstance(raw, dict):
        raise fail_invalid(
            f"{path} is a {type(raw).__name__}, not a mapping: a scenario has keys such as region, servers, faults "
            "(docs/emulator.md)"
        )
    try:
        return Scenario.model_validate(raw or {})
    except ValidationError as error:
        raise fail_invalid("\n".join(validation_problems(path, error))) from error


def validation_problems(source: Path, error: Any) -> list[str]:
    """One line per pydantic problem: `file: field.path: what is wrong`."""
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {location}: {message}" if location else f"{source}: {message}")
    return lines


def check_writable(path: Path, what: str) -> None:
    """Refuse, before any work is done, an output path whose folder is missing or that cannot be written."""
    folder = path.parent
    if path.is_dir():
        raise fail_invalid(f"{path} is a directory: give a file name for the {what}, e.g. {path / 'report.json'}")
    if not folder.is_dir():
        raise fail_invalid(
            f"cannot write the {what} to {path}: the folder {folder} does not exist; create it or choose another path"
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise fail_invalid(f"cannot write the {what} to {path}: permission denied; choose another path")


def write_text(path: Path, text: str, what: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise fail_invalid(f"cannot write the {what} to {path}: {error.strerror or error}") from error


def point_in_time_problems(text: str) -> list[str]:
    """--point-in-time: an ISO 8601 moment in UTC (the execution input's PointInTime), or why not."""
    from lambdas.core.plan import point_in_time_epoch

    try:
        point_in_time_epoch(text)
    except ValueError as error:
        return [f"--point-in-time: {error}"]
    return []
