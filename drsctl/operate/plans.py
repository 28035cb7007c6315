"""Plans as the deployed stack stores them (RecoveryPlans, with their groups in ProtectionGroups): list, read with
their version, compare with a plan file, and store one unless that would change the plan of a running execution."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from drsctl.operate.conflicts import Running
from drsctl.operate.executions import OperateError, stored_plan
from drsctl.operate.stack import DeployedStack
from lambdas.core import records
from lambdas.core.errors import PlanNotFoundError
from lambdas.core.plan import RecoveryPlan, RunOptions
from lambdas.core.plan_version import canonical_plan, plan_version


def list_plans(stack: DeployedStack) -> list[dict[str, Any]]:
    """Every stored plan: PlanId, Name, its waves' count and its planVersion, sorted by PlanId."""
    with stack.environment():
        table = records.table(records.RECOVERY_PLANS_TABLE)
    arguments: dict[str, Any] = {}
    found: list[dict[str, Any]] = []
    while True:
        page = table.scan(**arguments)
        for item in page.get("Items", []):
            plan = records.from_item(item)
            found.append(
                {
                    "PlanId": plan["PlanId"],
                    "Name": plan.get("Name"),
                    "Waves": len(plan.get("Waves", [])),
                    "planVersion": _version(stack, str(plan["PlanId"])),
                }
            )
        if "LastEvaluatedKey" not in page:
            return sorted(found, key=lambda plan: str(plan["PlanId"]))
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _version(stack: DeployedStack, plan_id: str) -> str | None:
    """The stored plan's version (None when it is no longer a valid plan, e.g. a group was deleted)."""
    try:
        return plan_version(RecoveryPlan.model_validate(stored_plan(stack, plan_id)))
    except (ValidationError, OperateError):
        return None


def show_plan(stack: DeployedStack, plan_id: str) -> dict[str, Any]:
    """The stored plan, as the plan model reads it (the waves' defaults filled in, its groups attached)."""
    return normalised(stored_plan(stack, plan_id))


def normalised(plan: dict[str, Any] | RecoveryPlan) -> dict[str, Any]:
    """The plan in the model's field order (as plan files are written), with the groups its waves use."""
    model = plan if isinstance(plan, RecoveryPlan) else RecoveryPlan.model_validate(plan)
    return canonical_plan(model)


def version_of(plan: dict[str, Any] | RecoveryPlan) -> str:
    return plan_version(plan if isinstance(plan, RecoveryPlan) else RecoveryPlan.model_validate(plan))


def options_in_effect(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The plan's Options with every default filled in, per mode (ExpectedJobMinutes differs)."""
    model = RecoveryPlan.model_validate(plan)
    return {
        mode: RunOptions.resolve(mode, model.Options).model_dump(mode="json", exclude_none=True)
        for mode in ("DRILL", "RECOVERY")
    }


def diff_lines(stored: dict[str, Any] | None, ours: dict[str, Any], plan_id: str, file_name: str) -> list[str]:
    """A unified diff from the stored plan to the file's (empty when they are the same plan)."""
    if stored is not None and version_of(stored) == version_of(ours):
        return []
    return list(
        difflib.unified_diff(
            _lines(stored) if stored is not None else [],
            _lines(ours),
            fromfile=f"stored plan {plan_id}" if stored is not None else "(no stored plan)",
            tofile=file_name,
            lineterm="",
        )
    )


def diff(stack: DeployedStack, plan: RecoveryPlan, file_name: str) -> list[str]:
    """A unified diff from the stored plan to the file's (empty when they are the same plan)."""
    return diff_lines(show_plan(stack, plan.PlanId), normalised(plan), plan.PlanId, file_name)


class _PlanFileDumper(yaml.SafeDumper):
    """Lists indented under their key (`Waves:` then `  - WaveName: ...`), as the example plan files are written."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def as_yaml(plan: dict[str, Any]) -> str:
    """A plan as a YAML plan file: keys in the plan model's order (PlanId, Name, ..., Waves, Options), not sorted."""
    text: str = yaml.dump(plan, Dumper=_PlanFileDumper, sort_keys=False, allow_unicode=True, width=1000)
    return text


def _lines(plan: dict[str, Any]) -> list[str]:
    return as_yaml(plan).splitlines()


@dataclass
class Loading:
    """What `plan load` found before storing: the stored plan (if any), the diff, both versions, and the executions
    of the plan that are running."""

    plan_id: str
    version: str
    previous_version: str | None
    diff: list[str]
    running: list[Running] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.version != self.previous_version

    def to_json(self) -> dict[str, Any]:
        return {
            "PlanId": self.plan_id,
            "planVersion": self.version,
            "previousVersion": self.previous_version,
            "Changed": self.changed,
            "Diff": self.diff,
            "RunningExecutions": [r.name for r in self.running],
        }


def before_load(plan: RecoveryPlan, file_name: str) -> Loading:
    """Compare the file with the stored plan (in the tables the environment names, as the Lambdas read them)."""
    try:
        stored: dict[str, Any] | None = normalised(records.load_plan(plan.PlanId))
    except PlanNotFoundError:
        stored = None
    except ValidationError:
        stored = None  # the stored plan is no longer valid (a group was deleted): the file replaces it
    return Loading(
        plan_id=plan.PlanId,
        version=version_of(plan),
        previous_version=version_of(stored) if stored is not None else None,
        diff=diff_lines(stored, normalised(plan), plan.PlanId, file_name),
    )
