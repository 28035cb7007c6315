"""The JSON Schema of the drill report (docs/report.schema.json, written by `python -m drsctl.schemas`).

Written out by hand rather than derived from the dataclasses: the report is also built from a deployed stack's
records (deployed.py), where the rehearsal-only figures are null, and it carries fields other builders add
(`cleanup`, `resumedFrom`, HealthCheck steps). Every report a rehearsal writes is checked against it in the tests.
"""

from __future__ import annotations

from typing import Any

from drsctl.report.audit import STARTED_BY_SOURCES

TITLE = "drs-orchestrator drill report"


def _nullable(kind: str | list[str], **extra: Any) -> dict[str, Any]:
    kinds = [kind] if isinstance(kind, str) else kind
    return {"type": [*kinds, "null"], **extra}


def _object(properties: dict[str, Any], required: list[str], description: str = "") -> dict[str, Any]:
    shape: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if description:
        shape["description"] = description
    return shape


SECONDS = _nullable("number", description="Seconds from the start of the execution.")
UTC_TIME = _nullable("string", description="ISO 8601, UTC: when someone acted (an absolute time, not from the start).")
COUNT = {"type": "integer", "minimum": 0}
MET = _nullable("boolean", description="Whether the target was met; null when there is no target or nothing to judge.")
STATUS = {"type": "string", "minLength": 1}

SERVER = _object(
    {
        "sourceServerId": {"type": "string"},
        "status": STATUS,
        "launchStatus": _nullable("string"),
        "recoveryInstanceId": _nullable("string"),
        "jobId": _nullable("string"),
        "startedAt": SECONDS,
        "launchedAt": SECONDS,
        "error": _nullable("string"),
        "hostname": _nullable("string"),
        "recoveryPointAt": {**SECONDS, "description": "The point in time it was recovered from (may be negative)."},
        "account": _nullable(
            "string",
            pattern="^[0-9]{12}$",
            description="The account whose DRS holds it (a server is known by account, region and ID); null in "
            "reports of records written before accounts (the stack's own account).",
        ),
        "region": _nullable("string", description="Its DRS Region."),
        "recoverySnapshotId": _nullable(
            "string", description="The recovery snapshot it launched from (a point-in-time recovery), else null."
        ),
        "rpoSeconds": _nullable("number", minimum=0),
        "rpoMet": MET,
    },
    ["sourceServerId", "status", "jobId", "recoveryInstanceId", "startedAt", "launchedAt", "error"],
)

STEP = _object(
    {
        "phase": {"type": "string", "description": "BEFORE or AFTER the wave's launch."},
        "kind": {"type": "string", "description": "Lambda, WaitForCallback, Approval, Wait, HealthCheck, ..."},
        "name": {"type": "string"},
        "status": STATUS,
        "startedAt": SECONDS,
        "endedAt": SECONDS,
        "detail": _nullable("string"),
        "decidedBy": _nullable("string", description="The approver's AWS identity (an ARN AWS established)."),
        "retries": {**COUNT, "description": "How often its task was retried (the state machine's Retry policies)."},
        "checks": {**COUNT, "description": "A health check: how many rounds of checks it made."},
        # An approval's question and answer (records written before they existed lack them: null).
        "message": _nullable("string", description="The question the approvers were asked."),
        "deadline": {**UTC_TIME, "description": "ISO 8601, UTC: when the approval would time out."},
        "onTimeout": _nullable("string", description="What a timeout does: FAIL or CONTINUE."),
        "decision": _nullable("string", enum=["APPROVE", "REJECT", None]),
        "reason": _nullable("string", description="Why, as the approver said (or the rejection's cause)."),
        "decidedAt": UTC_TIME,
        "approvals": {
            "type": "array",
            "description": "Each approver's answer, one per distinct principal.",
            "items": _object(
                {
                    "by": _nullable("string"),
                    "decision": _nullable("string", enum=["APPROVE", "REJECT", None]),
                    "reason": _nullable("string"),
                    "at": UTC_TIME,
                },
                ["by", "decision"],
            ),
        },
        "ranIn": _nullable(
            "string",
            description="A resumed execution: the execution this step ran in (taken over, not run again; no times).",
        ),
        "previously": _nullable(
            "string", description="A step a resume ran again: how it ended in the execution resumed."
        ),
    },
    ["phase", "kind", "name", "status", "startedAt", "endedAt"],
)

WAVE_ACTIVITY = _object(
    {
        "startRounds": {**COUNT, "description": "Times StartRecovery was called for its servers not yet started."},
        "jobChecks": {**COUNT, "description": "Times its DRS jobs were checked (the polling loop's turns)."},
        "capacityWaits": {**COUNT, "description": "Waits for DRS capacity (job quotas full)."},
        "conflictWaits": {**COUNT, "description": "Waits before starting again (DRS throttled, a server busy)."},
        "taskRetries": {**COUNT, "description": "Retries of its orchestration tasks (Lambda or AWS errors)."},
    },
    ["startRounds", "jobChecks", "capacityWaits", "conflictWaits", "taskRetries"],
    "What the wave's launch did, counted from the history.",
)

WAVE = _object(
    {
        "number": {"type": "integer", "minimum": 0},
        "name": {"type": "string"},
        "status": STATUS,
        "region": _nullable("string"),
        "impact": _nullable("string"),
        "startedAt": SECONDS,
        "endedAt": SECONDS,
        "errorMessage": _nullable("string"),
        "missedChecks": {"type": "integer", "minimum": 0},
        "jobIds": {"type": "array", "items": {"type": "string"}},
        "steps": {"type": "array", "items": STEP},
        "servers": {"type": "array", "items": SERVER},
        "rto": _object({"achievedSeconds": SECONDS, "met": MET}, ["achievedSeconds", "met"]),
        "rpo": _object({"worstSeconds": _nullable("number"), "met": MET}, ["worstSeconds", "met"]),
        "activity": {**WAVE_ACTIVITY, "type": ["object", "null"]},
    },
    ["name", "status", "startedAt", "endedAt", "servers", "steps", "rto", "rpo"],
)

COUNT = {"type": "integer", "minimum": 0}
ACCOUNT = _object(
    {
        "account": _nullable(
            "string", description="null: the stack's own account, in records written before accounts."
        ),
        "regions": {"type": "array", "items": {"type": "string"}},
        "servers": COUNT,
        "launched": COUNT,
        "failed": COUNT,
        "skipped": COUNT,
        "worstRpoSeconds": _nullable("number"),
    },
    ["account", "regions", "servers", "launched", "failed", "skipped", "worstRpoSeconds"],
)

STATE = _object(
    {
        "name": {"type": "string"},
        "type": {"type": "string"},
        "parent": _nullable("string", description="The Map or Parallel state whose machine holds it."),
        "start": {"type": "boolean"},
        "end": {"type": "boolean"},
        "next": {
            "type": "array",
            "items": _object(
                {"to": {"type": "string"}, "how": {"enum": ["next", "choice", "default", "catch"]}}, ["to", "how"]
            ),
        },
    },
    ["name", "type", "parent", "next"],
)

CLEANUP = _nullable(
    "object",
    description="The drill cleanup (terminating the drill's recovery instances), or null when none ran.",
    properties={
        "status": {"type": "string"},
        "terminated": {"type": "array", "items": {"type": "string"}, "description": "Recovery instance IDs."},
        "jobIds": {"type": "array", "items": {"type": "string"}},
        "startedAt": SECONDS,
        "endedAt": SECONDS,
        "detail": _nullable("string", description="Why it failed or was kept, when it did not complete."),
        "afterMinutes": _nullable("integer", minimum=0, description="The plan's wait after the drill ended."),
        "waitStartedAt": {**SECONDS, "description": "When the drill ended and the cleanup's wait began."},
    },
    required=["status", "terminated", "jobIds", "startedAt", "endedAt"],
)

LOCAL_FIGURE = _nullable("number", description="Measured by the rehearsal; null in a report of a deployed execution.")
# The figures only a rehearsal measures (the engine's and the emulator's counts): null in a deployed report.
LOCAL_FIGURES = (
    "criticalPathSeconds",
    "overheadRatio",
    "maxLambdaSeconds",
    "maxLambdaVirtualSeconds",
    "lambdaInvocations",
    "drsApiCalls",
    "startRecoveryCalls",
    "launchesPerServerMax",
    "wallSeconds",
    "maxItemBytes",
    "maxPayloadBytes",
)


def report_schema() -> dict[str, Any]:
    figures = dict.fromkeys(LOCAL_FIGURES, LOCAL_FIGURE)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": TITLE,
        "description": "What `drsctl rehearse --json` writes and `drsctl report` renders (docs/report.md).",
        "type": "object",
        "required": [
            "status",
            "executionId",
            "mode",
            "makespanSeconds",
            "waves",
            "stateCounts",
            "rto",
            "rpo",
            "serverCounts",
            "verdict",
        ],
        "properties": {
            "source": {
                "enum": ["rehearsal", "sandbox", "deployed"],
                "description": "rehearsal and sandbox: not on AWS (an emulated estate); deployed: a stack on AWS.",
            },
            "generatedAt": _nullable("string", description="ISO 8601, UTC: when the report was built."),
            "generator": _nullable("string", description="The tool and its version (drsctl 0.1.0)."),
            "startedBySource": _nullable(
                "string",
                enum=[*STARTED_BY_SOURCES, None],
                description="How startedBy is known: record (the caller's AWS identity, recorded by drsctl run "
                "start), cloudtrail (its StartExecution event), rehearsal (the local user), option (typed).",
            ),
            "cancelledBy": _nullable("string", description="Who cancelled it (an AWS identity), when it was."),
            "cancelReason": _nullable("string"),
            "cancelledAt": UTC_TIME,
            "activity": _nullable(
                "object",
                properties={"lockRounds": COUNT, "terminateChecks": COUNT, "taskRetries": COUNT},
                required=["lockRounds", "terminateChecks", "taskRetries"],
                description="Outside the waves: locking the servers, checking the cleanup, retried tasks.",
            ),
            "status": STATUS,
            "executionId": {"type": "string", "minLength": 1},
            "mode": {"enum": ["DRILL", "RECOVERY"]},
            "planId": _nullable("string"),
            "planName": _nullable("string"),
            "startedBy": _nullable(
                "string",
                description="Who started it: the caller's AWS identity (ARN) that drsctl run start recorded, else as "
                "startedBySource says; null when nothing recorded it.",
            ),
            "planVersion": _nullable(
                "string",
                pattern="^[0-9a-f]{12}$",
                description="The plan it ran: the first 12 hex digits of the SHA-256 of the plan's canonical JSON "
                "(sorted keys, no whitespace, UTF-8; lambdas/core/plan_version.py), as `drsctl plan show` prints it.",
            ),
            "startTime": _nullable("string", description="ISO 8601, UTC."),
            "endTime": _nullable("string", description="ISO 8601, UTC; null while running."),
            "stepFunctionsStatus": _nullable("string"),
            "stepFunctionsError": _nullable("string"),
            "errorMessage": _nullable("string"),
            "makespanSeconds": {"type": "number", "minimum": 0},
            "historyEvents": {"type": "integer", "minimum": 0},
            "historyEventsTotal": {"type": "integer", "minimum": 0},
            "stateTransitions": {"type": "integer", "minimum": 0},
            "maxItemTable": _nullable("string"),
            **figures,
            "warnings": {"type": "array", "items": {"type": "string"}},
            "targets": _object(
                {"rtoMinutes": _nullable("number"), "rpoMinutes": _nullable("number")}, ["rtoMinutes", "rpoMinutes"]
            ),
            "rto": _object(
                {"targetSeconds": _nullable("number"), "achievedSeconds": SECONDS, "met": MET},
                ["targetSeconds", "achievedSeconds", "met"],
                "The plan's RTO: achievedSeconds is when its last wave was recovered (its launch and the steps after "
                "it), the drill cleanup not included.",
            ),
            "rpo": _object(
                {"targetSeconds": _nullable("number"), "worstSeconds": _nullable("number"), "met": MET},
                ["targetSeconds", "worstSeconds", "met"],
                "The plan's RPO: worstSeconds is the oldest recovery point of any server, against its StartRecovery.",
            ),
            "serverCounts": _object(
                {key: {"type": "integer", "minimum": 0} for key in ("total", "launched", "failed", "skipped", "other")},
                ["total", "launched", "failed", "skipped", "other"],
            ),
            "accounts": {"type": "array", "items": ACCOUNT, "description": "Per account: its servers by outcome."},
            "pointInTime": _nullable(
                "string",
                description="The moment a point-in-time recovery recovered to (execution input PointInTime, ISO 8601, "
                "UTC); null when every server launched from its latest recovery point.",
            ),
            "snapshotSkewSeconds": _nullable(
                "integer",
                minimum=0,
                description="How far apart the recovery snapshots chosen for pointInTime are (newest minus oldest).",
            ),
            "verdict": {"type": "string", "minLength": 1},
            "stateCounts": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 1},
                "description": "State name -> times the execution entered it.",
            },
            "transitionCounts": {
                "type": "array",
                "items": _object(
                    {"from": {"type": "string"}, "to": {"type": "string"}, "count": {"type": "integer", "minimum": 1}},
                    ["from", "to", "count"],
                ),
            },
            "stateMachine": _nullable(
                "object",
                properties={"startAt": {"type": "string"}, "states": {"type": "array", "items": STATE}},
                required=["startAt", "states"],
            ),
            "waves": {"type": "array", "items": WAVE},
            "cleanup": CLEANUP,
            "resumedFrom": _nullable("string", description="The execution this one resumed, or null."),
        },
    }
