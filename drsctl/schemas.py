"""Write the JSON Schemas of the input files into docs/: `python -m drsctl.schemas`.

The committed schemas let editors validate plans and scenarios; a test fails when they drift from the models.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drsctl.emulator.scenario import Scenario
from drsctl.report.schema import report_schema
from lambdas.core.plan import ExecutionInput, RecoveryPlan
from lambdas.core.readiness.checks import CODES
from lambdas.core.readiness.model import Readiness

DOCS = Path(__file__).resolve().parents[1] / "docs"


def readiness_schema() -> dict[str, Any]:
    """The readiness JSON's schema, each finding's code one of the registry's (docs/readiness.md)."""
    schema = Readiness.model_json_schema()
    schema["$defs"]["Finding"]["properties"]["code"]["enum"] = list(CODES)
    return schema


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "scenario.schema.json": Scenario.model_json_schema,
    "plan.schema.json": RecoveryPlan.model_json_schema,
    "execution-input.schema.json": ExecutionInput.model_json_schema,
    "report.schema.json": report_schema,
    "readiness.schema.json": readiness_schema,
}


def render(name: str) -> str:
    return json.dumps(SCHEMAS[name](), indent=2, sort_keys=True) + "\n"


def main() -> None:
    for name in SCHEMAS:
        (DOCS / name).write_text(render(name))
        print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
