"""EC2's view of the recovery instances DRS launched: DescribeInstanceStatus, served beside DRS (see docs/emulator.md).

Statuses follow the scenario's `instanceStatus` per server (default: initializing for 120 s after the launch, then
ok) and the instance's life: running from its launch, shutting-down while a TerminateRecoveryInstances job runs,
terminated after it (or when a newer launch of the server replaced it), listed for an hour after that, as EC2 keeps
terminated instances visible, then gone. Results use the member names of botocore's `ec2` model; `query.py` puts
them on the wire.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Callable
from typing import Any

from drsctl.emulator import ec2_launch
from drsctl.emulator.model import TERMINATED_VISIBLE_SECONDS, DrsEmulator, Ec2Fault, RecoveryInstance
from drsctl.emulator.query import Ec2Error, Ec2Handler, paginate
from drsctl.emulator.scenario import EC2_FAULT_ERRORS, InstanceStatusSpec

DEFAULT_INSTANCE_STATUS = InstanceStatusSpec(seconds=120, result="ok")
MAX_RESULTS = (5, 1000)
STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
_EC2_STATES = {"RUNNING": "running", "SHUTTING-DOWN": "shutting-down", "TERMINATED": "terminated"}
_INSTANCE_ID = re.compile(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$")


def instance_status(instance: RecoveryInstance, now: float) -> dict[str, Any]:
    """One InstanceStatus item (botocore's `ec2` shape) for `instance` at `now`."""
    state = _EC2_STATES[instance.state]
    item: dict[str, Any] = {
        "InstanceId": instance.id,
        "AvailabilityZone": availability_zone(instance),
        "InstanceState": {"Code": STATE_CODES[state], "Name": state},
        "Operator": {"Managed": False},
    }
    if state != "running":
        # Status checks apply only to a running instance.
        not_applicable = {"Status": "not-applicable"}
        return {**item, "SystemStatus": not_applicable, "InstanceStatus": not_applicable}
    spec = instance.instance_status or DEFAULT_INSTANCE_STATUS
    checked_at = instance.launched_at + spec.seconds
    if now < checked_at:
        checks = _summary("initializing", "initializing")
        ebs = checks
    elif spec.result == "ok":
        checks = ebs = _summary("ok", "passed")
    else:
        checks = _summary("impaired", "failed", impaired_since=checked_at)
        ebs = _summary("ok", "passed")
    return {**item, "SystemStatus": checks, "InstanceStatus": checks, "AttachedEbsStatus": ebs}


def _summary(status: str, reachability: str, impaired_since: float | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"Name": "reachability", "Status": reachability}
    if impaired_since is not None:
        detail["ImpairedSince"] = impaired_since
    return {"Status": status, "Details": [detail]}


def availability_zone(instance: RecoveryInstance) -> str:
    """One of the region's zones a, b or c, fixed per instance."""
    return instance.region + "abc"[int(hashlib.sha256(instance.id.encode()).hexdigest(), 16) % 3]


def _values(path: str) -> Callable[[dict[str, Any]], list[str]]:
    """A filter's values in an item: `path` is `Member.Member` in the item; lists of details give each status."""

    def values(item: dict[str, Any]) -> list[str]:
        summary_name, field = path.split(".")
        summary = item.get(summary_name) or {}
        if field == "Reachability":
            return [detail["Status"] for detail in summary.get("Details", [])]
        return [str(summary[field])] if field in summary else []

    return values


def _none(_: dict[str, Any]) -> list[str]:
    return []  # no instance has scheduled events or a managing service


FILTERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "availability-zone": lambda item: [item["AvailabilityZone"]],
    "instance-state-name": _values("InstanceState.Name"),
    "instance-state-code": _values("InstanceState.Code"),
    "instance-status.status": _values("InstanceStatus.Status"),
    "instance-status.reachability": _values("InstanceStatus.Reachability"),
    "system-status.status": _values("SystemStatus.Status"),
    "system-status.reachability": _values("SystemStatus.Reachability"),
    "attached-ebs-status.status": _values("AttachedEbsStatus.Status"),
    "attached-ebs-status.reachability": _values("AttachedEbsStatus.Reachability"),
    "operator.managed": lambda item: ["false"],
    "operator.principal": _none,
    "event.code": _none,
    "event.description": _none,
    "event.instance-event-id": _none,
    "event.not-after": _none,
    "event.not-before": _none,
    "event.not-before-deadline": _none,
}


def describe_instance_status(now: float, instances: list[RecoveryInstance], params: dict[str, Any]) -> dict[str, Any]:
    """DescribeInstanceStatus over `instances` (every instance DRS launched in the region, oldest first)."""
    if params.get("DryRun"):
        raise Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", status=412)
    wanted: list[str] = params.get("InstanceIds") or []
    limit = params.get("MaxResults")
    if limit is not None and wanted:
        raise Ec2Error(
            "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults"
        )
    if limit is not None and not MAX_RESULTS[0] <= limit <= MAX_RESULTS[1]:
        raise Ec2Error(
            "InvalidParameterValue",
            f"Value ( {limit} ) for parameter maxResults is invalid. Expecting a value between "
            f"{MAX_RESULTS[0]} and {MAX_RESULTS[1]}.",
        )
    filters = _checked_filters(params.get("Filters") or [])
    visible = {
        i.id: i for i in instances if i.terminated_at is None or now - i.terminated_at < TERMINATED_VISIBLE_SECONDS
    }
    _check_ids(wanted, visible)
    chosen = [visible[i] for i in dict.fromkeys(wanted)] if wanted else list(visible.values())
    include_all = bool(params.get("IncludeAllInstances"))
    items = [
        item
        for item in (instance_status(instance, now) for instance in chosen)
        if (include_all or item["InstanceState"]["Name"] == "running") and _matches(item, filters)
    ]
    return paginate("DescribeInstanceStatus", params, {"InstanceStatuses": items})


def _check_ids(wanted: list[str], visible: dict[str, RecoveryInstance]) -> None:
    for instance_id in wanted:
        if not _INSTANCE_ID.match(instance_id):
            raise Ec2Error("InvalidInstanceID.Malformed", f'Invalid id: "{instance_id}"')
    missing = [instance_id for instance_id in dict.fromkeys(wanted) if instance_id not in visible]
    if len(missing) == 1:
        raise Ec2Error("InvalidInstanceID.NotFound", f"The instance ID '{missing[0]}' does not exist")
    if missing:
        raise Ec2Error("InvalidInstanceID.NotFound", f"The instance IDs '{', '.join(missing)}' do not exist")


def _checked_filters(filters: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    checked = []
    for item in filters:
        name = item.get("Name", "")
        if name not in FILTERS:
            raise Ec2Error("InvalidParameterValue", f"The filter '{name}' is invalid")
        checked.append((name, list(item.get("Values") or [])))
    return checked


def _matches(item: dict[str, Any], filters: list[tuple[str, list[str]]]) -> bool:
    """Every filter must match (AND); within one, any value (OR), with EC2's * and ? wildcards."""
    return all(
        any(fnmatch.fnmatchcase(actual, pattern) for actual in FILTERS[name](item) for pattern in patterns)
        for name, patterns in filters
    )


def handlers(emulator: DrsEmulator) -> dict[str, Ec2Handler]:
    """The EC2 operations the emulator serves, bound to its recovery instances."""

    def describe(region: str, params: dict[str, Any], caller: str | None) -> dict[str, Any]:
        try:
            now, instances = emulator.ec2_view(region, "DescribeInstanceStatus", caller)
        except Ec2Fault as fault:
            raise Ec2Error(fault.code, fault.message, status=EC2_FAULT_ERRORS[fault.code]) from fault
        return describe_instance_status(now, instances, params)

    return {"DescribeInstanceStatus": describe, **ec2_launch.handlers(emulator)}
