"""What every sub-command shares: reading input files with errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console

from drsctl.emulator.scenario import Scenario, load_scenario

EXIT_INVALID_INPUT = 2
stderr = Console(stderr=True)


def fail_invalid(message: str) -> typer.Exit:
    """Print an input error on stderr and return the exit (code 2) for the caller to raise."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_INVALID_INPUT)


def describe_validation_error(source: Path, error: ValidationError) -> str:
    lines = [f"{source} is not valid ({error.error_count()} problem(s)):"]
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  - {location}: {problem['msg']}")
    return "\n".join(lines)


def read_scenario(path: Path | None) -> Scenario:
    try:
        return load_scenario(path)
    except FileNotFoundError as error:
        raise fail_invalid(f"scenario file not found: {path}") from error
    except yaml.YAMLError as error:
        raise fail_invalid(f"{path} is not valid YAML/JSON: {error}") from error
    except ValidationError as error:
        assert path is not None
        raise fail_invalid(describe_validation_error(path, error)) from error
