"""Plans as the deployed stack stores them (RecoveryPlans, with their groups in ProtectionGroups): list, read, and
compare with a plan file."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from drsctl.operate.executions import stored_plan
from drsctl.operate.stack import DeployedStack
from lambdas.core import records
from lambdas.core.plan import RecoveryPlan


def list_plans(stack: DeployedStack) -> list[dict[str, Any]]:
    """Every stored plan: PlanId, Name, its waves' count, sorted by PlanId."""
    with stack.environment():
        table = records.table(records.RECOVERY_PLANS_TABLE)
    arguments: dict[str, Any] = {}
    found: list[dict[str, Any]] = []
    while True:
        page = table.scan(**arguments)
        for item in page.get("Items", []):
            plan = records.from_item(item)
            found.append({"PlanId": plan["PlanId"], "Name": plan.get("Name"), "Waves": len(plan.get("Waves", []))})
        if "LastEvaluatedKey" not in page:
            return sorted(found, key=lambda plan: str(plan["PlanId"]))
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def show_plan(stack: DeployedStack, plan_id: str) -> dict[str, Any]:
    """The stored plan, as the plan model reads it (defaults filled in, groups attached)."""
    return normalised(stored_plan(stack, plan_id))


def normalised(plan: dict[str, Any] | RecoveryPlan) -> dict[str, Any]:
    model = plan if isinstance(plan, RecoveryPlan) else RecoveryPlan.model_validate(plan)
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    dumped["ProtectionGroups"] = sorted(dumped["ProtectionGroups"], key=lambda group: str(group["GroupId"]))
    return dumped


def diff(stack: DeployedStack, plan: RecoveryPlan, file_name: str) -> list[str]:
    """A unified diff from the stored plan to the file's (empty when they are the same plan)."""
    stored = show_plan(stack, plan.PlanId)
    ours = normalised(plan)
    referenced = {wave["ProtectionGroupId"] for wave in ours["Waves"]}
    # The stored plan carries only the groups its waves name (load_plan attaches those): compare the same.
    ours["ProtectionGroups"] = [group for group in ours["ProtectionGroups"] if group["GroupId"] in referenced]
    return list(
        difflib.unified_diff(
            _lines(stored), _lines(ours), fromfile=f"stored plan {plan.PlanId}", tofile=file_name, lineterm=""
        )
    )


def _lines(plan: dict[str, Any]) -> list[str]:
    text: str = yaml.safe_dump(plan, sort_keys=True, allow_unicode=True, width=1000)
    return text.splitlines()
