"""Who did what, and when: the audit facts of a report, read from the stack's records (docs/report.md).

Both builders (a rehearsal, drsctl/local/run.py; a deployed stack, deployed.py) read the same records, so both go
through here: the execution record's `PlanVersion`, `StartedBy`, `CancelledBy` and `CancelReason`, and each runbook
step's approval fields (`Message`, `Deadline`, `OnTimeout`, `Decision`, `Reason`, `DecidedAt`, `DecidedBy`,
`Approvals`). Records written before those fields existed lack them: the value is null, and the page says "not
recorded", never a guess. Times that say when someone acted are absolute (ISO 8601, UTC); the step's own start and
end stay seconds from the start of the execution, like every other time of the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# How the report knows who started the execution (`startedBySource`).
FROM_RECORD = "record"  # the execution record's StartedBy: the caller's AWS identity, as `drsctl run start` found it
FROM_CLOUDTRAIL = "cloudtrail"  # CloudTrail's StartExecution event for the execution (LookupEvents)
FROM_OPTION = "option"  # `drsctl run report --started-by`: typed by whoever built the report, not checked
FROM_REHEARSAL = "rehearsal"  # the rehearsal's principal: the local user who ran it
STARTED_BY_SOURCES = (FROM_RECORD, FROM_CLOUDTRAIL, FROM_OPTION, FROM_REHEARSAL)
TEXT_MAX = 500  # a reason or a question, as the report carries it


def iso(seconds: Any) -> str | None:
    """Epoch seconds (a record's time) as ISO 8601 UTC; None for anything that is not a time."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    try:
        return datetime.fromtimestamp(float(seconds), tz=UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def now_iso() -> str:
    return datetime.now(tz=UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def generator() -> str:
    """The tool and its version, as `drsctl --version` says it."""
    try:
        return f"drsctl {version('drs-orchestrator')}"
    except PackageNotFoundError:
        return "drsctl (version unknown)"


def generated(at: float | None = None) -> dict[str, str]:
    """`generatedAt` (UTC) and `generator` (the tool's version): when and by what the report was built. `at`: now as
    the stack tells time (the sandbox's clock runs ahead of this machine's: its report must not be generated before
    the drill it reports); this machine's clock by default."""
    when = iso(int(at)) if at is not None else None
    return {"generatedAt": when or now_iso(), "generator": generator()}


def execution_facts(item: Mapping[str, Any], stopped_at: float | None) -> dict[str, Any]:
    """The execution record's audit fields: plan version, who started it, who cancelled it, why and when."""
    cancelled = item.get("Status") == "CANCELLED" or bool(item.get("CancelledBy"))
    ended = item.get("EndTime") if item.get("EndTime") is not None else stopped_at
    return {
        "planVersion": _text(item.get("PlanVersion")),
        "startedBy": _text(item.get("StartedBy")),
        "cancelledBy": _text(item.get("CancelledBy")),
        "cancelReason": _text(item.get("CancelReason")),
        "cancelledAt": iso(ended) if cancelled else None,
    }


def started_by(
    recorded: str | None,
    *,
    cloudtrail: Callable[[], str | None] | None = None,
    given: str | None = None,
    rehearsal: str | None = None,
) -> tuple[str | None, str | None]:
    """Who started the execution and how that is known, best source first: the record (AWS said who called `run
    start`), CloudTrail's StartExecution event, the rehearsal's principal, and last what the operator typed."""
    if recorded:
        return recorded, FROM_RECORD
    if cloudtrail is not None:
        found = cloudtrail()
        if found:
            return found, FROM_CLOUDTRAIL
    if rehearsal:
        return rehearsal, FROM_REHEARSAL
    if given:
        return given, FROM_OPTION
    return None, None


def from_start(since: Callable[[Any], float | None], stamp: Any) -> float | None:
    """A record's time (whole epoch seconds: the records truncate) as seconds from the execution's start. A stamp
    less than a second before the start fell in the start's own second (a step a resume asks at once, say): it is
    the start, +0, never a time before it. Anything earlier is returned as it is, negative."""
    seconds = since(stamp)
    if seconds is not None and -1.0 < seconds < 0.0:
        return 0.0
    return seconds


def step_facts(step: Mapping[str, Any], since: Callable[[Any], float | None]) -> dict[str, Any]:
    """One runbook step of a wave's record as the report carries it: its kind, times and outcome, and for an approval
    the question, the deadline, what a timeout does and each decision (who, what, why, when)."""
    taken_over = bool(step.get("RanIn"))  # a resume took it over: it ran in the execution resumed, not in this one
    facts: dict[str, Any] = {
        "phase": str(step["Phase"]),
        "kind": str(step["Kind"]),
        "name": str(step["Name"]),
        "status": str(step["Status"]),
        "startedAt": None if taken_over else from_start(since, step.get("StartedAt")),
        "endedAt": None if taken_over else from_start(since, step.get("EndedAt")),
        "detail": step.get("Detail"),
        "decidedBy": _text(step.get("DecidedBy")),
        "ranIn": step.get("RanIn"),
        "previously": step.get("Previously"),
    }
    if facts["kind"] != "Approval":  # the same keys, null: every step of the JSON has one shape
        return {
            **facts,
            **dict.fromkeys(("message", "deadline", "onTimeout", "decision", "reason", "decidedAt")),
            "approvals": [],
        }
    decision = _decision(step.get("Decision")) or _decision_from_status(facts["status"])
    reason = _text(step.get("Reason")) or _reason_from_detail(step.get("Detail"), facts["status"])
    approvals = [
        {
            "by": _text(answer.get("By")),
            "decision": _decision(answer.get("Decision")),
            "reason": _text(answer.get("Reason")),
            "at": iso(answer.get("At")),
        }
        for answer in step.get("Approvals") or []
        if isinstance(answer, Mapping)
    ]
    facts.update(
        message=_text(step.get("Message")),
        deadline=iso(step.get("Deadline")),
        onTimeout=_text(step.get("OnTimeout")),
        decision=decision,
        reason=reason,
        decidedAt=iso(step.get("DecidedAt")),  # an older record has none: never made up from the step's end
        approvals=approvals,
    )
    return facts


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text:
        return None
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


def _decision(value: Any) -> str | None:
    text = str(value).strip().upper() if value is not None else ""
    return text if text in ("APPROVE", "REJECT") else None


def _decision_from_status(status: str) -> str | None:
    """An older record keeps no Decision: an approver's answer is told by how the step ended (an approval that
    SUCCEEDED was approved; REJECTED was rejected). A timeout or a failure to ask is nobody's decision."""
    if status == "SUCCEEDED":
        return "APPROVE"
    if status == "REJECTED":
        return "REJECT"
    return None


def _reason_from_detail(detail: Any, status: str) -> str | None:
    """An older record's reason, from the answer it kept in Detail: the approver's JSON answer (`Reason`, or
    `Comment`), or the cause a rejection (SendTaskFailure) gave after its error name."""
    if not isinstance(detail, str) or not detail.strip():
        return None
    text = detail.strip()
    if text.startswith("{"):
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None  # cut at 500 characters by the record: not an answer the report can read
        return _text(answer.get("Reason") or answer.get("Comment")) if isinstance(answer, dict) else None
    if status == "REJECTED":  # "Rejected: <cause>"; the error's name alone is no reason
        error, _, cause = text.partition(": ")
        return _text(text) if " " in error else _text(cause)
    return None
