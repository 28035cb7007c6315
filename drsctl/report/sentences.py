"""What each step, approval and cleanup did, said as a sentence a reader of the report understands (plain text; the
page escapes it). Approvals and the cleanup carry absolute times in UTC: they say when someone or something acted.

Everything here reads the report's JSON only (docs/report.schema.json), so the page says what the JSON says.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from drsctl.report.judge import duration

DETAIL_SHOWN = 300  # a function's answer, as the page quotes it

HOW_STARTED_BY_IS_KNOWN = {
    "record": "the caller's AWS identity, recorded by drsctl run start",
    "cloudtrail": "from CloudTrail's StartExecution event",
    "rehearsal": "who ran the rehearsal: a rehearsal has no AWS identity",
    "option": "as given to drsctl run report --started-by: not checked against AWS",
}


def parse_iso(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def utc(moment: datetime | None, *, same_day_as: datetime | None = None) -> str:
    """'2026-01-01 00:10:27 UTC', or '00:10:27 UTC' on the day of `same_day_as`; 'not recorded' when unknown."""
    if moment is None:
        return "not recorded"
    moment = moment.astimezone(UTC)
    if same_day_as is not None and moment.date() == same_day_as.astimezone(UTC).date():
        return moment.strftime("%H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class Clock:
    """A report's times, absolute: its start (UTC) plus the seconds every time of the report counts from it."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.start = parse_iso(report.get("startTime"))

    def at(self, seconds: Any) -> datetime | None:
        if self.start is None or not isinstance(seconds, int | float) or isinstance(seconds, bool):
            return None
        return self.start + timedelta(seconds=float(seconds))

    def text(self, seconds: Any) -> str:
        """The UTC time `seconds` after the start: the time of day on the start's date, the date too after it."""
        return utc(self.at(seconds), same_day_as=self.start)

    def iso_text(self, value: Any) -> str:
        return utc(parse_iso(value), same_day_as=self.start)


def quoted(text: Any) -> str:
    return f"“{text}”"


def approval(step: dict[str, Any], clock: Clock) -> str:
    """An approval step in sentences: the question and when it was asked, the deadline and what a timeout does, and
    each decision with who, when (UTC) and why."""
    parts = []
    asked = f"Asked at {clock.text(step.get('startedAt'))}"
    if step.get("message"):
        asked += f": {quoted(step['message'])}"
    parts.append(asked + ".")
    if step.get("deadline") or step.get("onTimeout"):
        deadline = f"Deadline {clock.iso_text(step['deadline'])}" if step.get("deadline") else "No deadline recorded"
        on_timeout = step.get("onTimeout")
        if on_timeout:
            deadline += f"; on timeout: {on_timeout} ({_timeout_effect(on_timeout)})"
        parts.append(deadline + ".")
    parts.append(_outcome(step, clock))
    return " ".join(part for part in parts if part)


def _timeout_effect(on_timeout: str) -> str:
    return "the plan goes on" if on_timeout.upper() == "CONTINUE" else "the plan stops"


def _outcome(step: dict[str, Any], clock: Clock) -> str:
    status = step.get("status")
    answers = [a for a in step.get("approvals") or [] if a.get("by") or a.get("decision")]
    if answers:
        said = " and ".join(
            _answer(a.get("decision"), a.get("by"), a.get("at"), a.get("reason"), clock) for a in answers
        )
        return said[0].upper() + said[1:] + "."
    if status in ("SUCCEEDED", "REJECTED") or step.get("decision"):
        decision = step.get("decision") or ("APPROVE" if status == "SUCCEEDED" else "REJECT")
        when = step.get("decidedAt")
        said = _answer(decision, step.get("decidedBy"), when, step.get("reason"), clock)
        if not when:
            said += f" (the decision's time was not recorded; the step ended at {clock.text(step.get('endedAt'))})"
        return said[0].upper() + said[1:] + "."
    detail = step.get("detail") or "no detail recorded"
    effect = _timeout_effect(step.get("onTimeout") or "FAIL")
    return {
        "TIMED_OUT": f"Not answered in time: it timed out at {clock.text(step.get('endedAt'))} and {effect}.",
        "FAILED": f"Could not be asked: {detail}.",
        "CANCELLED": f"The execution ended while it waited ({detail}).",
        "RUNNING": "Still waiting for an answer when the report was built.",
    }.get(str(status), f"Ended {status}.")


def _answer(decision: Any, by: Any, at: Any, reason: Any, clock: Clock) -> str:
    verb = {"APPROVE": "approved", "REJECT": "rejected"}.get(str(decision), "answered")
    said = f"{verb} by {by or 'an approver whose identity was not recorded'}"
    if at:
        said += f" at {clock.iso_text(at)}"
    return said + (f": {quoted(reason)}" if reason else ", no reason given")


def step(step: dict[str, Any], clock: Clock) -> str:
    """What a runbook step did, in a sentence (a resumed execution's: where it ran, or how it had ended before)."""
    if step.get("ranIn"):
        return (
            f"Ran in execution {step['ranIn']}, which this one resumed: taken over ({step.get('status')} there), "
            "not run again."
        )
    kind = step.get("kind")
    if kind == "Approval":
        said = approval(step, clock)
    elif kind == "Wait":
        said = _wait(step)
    elif kind == "HealthCheck":
        said = _health_check(step)
    else:
        said = _function(step)
    if step.get("previously"):
        said += f" Run again by this resume (before, it ended {step['previously']})."
    return said


def _wait(step: dict[str, Any]) -> str:
    status, detail, took = step.get("status"), step.get("detail"), _took(step)
    if status == "SUCCEEDED":
        return f"Waited {took} as the plan says." if took else "Waited as the plan says."
    return f"Ended {status} while waiting{': ' + detail if detail else ''}."


def _health_check(step: dict[str, Any]) -> str:
    status, detail, rounds = step.get("status"), step.get("detail"), step.get("checks") or 0
    checked = f" after {rounds} round(s) of checks" if rounds else ""
    said = {"SUCCEEDED": "Healthy", "FAILED": "Not healthy", "TIMED_OUT": "Not healthy in time"}.get(
        str(status), f"Ended {status}"
    )
    return f"{said}{checked}{': ' + detail if detail else ''}."


def _function(step: dict[str, Any]) -> str:
    status, detail = step.get("status"), step.get("detail")
    if status == "SUCCEEDED":
        return f"The function ran and returned {_answer_text(detail)}."
    if status == "RUNNING":
        return "Still running when the report was built."
    verb = {"FAILED": "Failed", "TIMED_OUT": "Timed out", "CANCELLED": "Cancelled"}.get(str(status), f"Ended {status}")
    return f"{verb}: {detail}." if detail else f"{verb}."


def _took(step: dict[str, Any]) -> str:
    start, end = step.get("startedAt"), step.get("endedAt")
    if start is None or end is None:
        return ""
    return duration(max(0.0, float(end) - float(start)))


def _answer_text(detail: Any) -> str:
    """A function's answer (JSON the record kept) as `key: value` pairs; nothing when it returned nothing."""
    if detail is None or str(detail).strip() in ("", "{}", "null"):
        return "nothing"
    text = str(detail)
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        text = ", ".join(f"{key}: {json.dumps(item, ensure_ascii=False)}" for key, item in value.items())
    return text if len(text) <= DETAIL_SHOWN else text[: DETAIL_SHOWN - 1] + "…"


NOBODY_RECORDED = "who started it was not recorded (no StartedBy on the record, and CloudTrail did not say)"


def started_by(report: dict[str, Any]) -> str:
    """'started by arn:aws:iam::...:user/alice (the caller's AWS identity, recorded by drsctl run start)', or that
    nobody recorded who."""
    who = report.get("startedBy")
    if not who:
        return NOBODY_RECORDED
    how = HOW_STARTED_BY_IS_KNOWN.get(str(report.get("startedBySource")))
    return f"started by {who} ({how})" if how else f"started by {who}"


STILL_IN_JOBS = ("JOB_STILL_RUNNING", "WAVE_TIMEOUT", "START_UNCONFIRMED")  # lambdas/core/finish.py: DRS may launch


def still_in_jobs(report: dict[str, Any]) -> int:
    """Servers still in a DRS launch job when the execution ended, with no instance recorded: DRS may have launched
    them since (it finishes a launch job already started)."""
    return sum(
        1
        for wave in report["waves"]
        for server in wave["servers"]
        if server.get("error") in STILL_IN_JOBS and not server.get("recoveryInstanceId")
    )


def cleanup_after_the_end(report: dict[str, Any]) -> bool:
    """Whether the drill cleanup started after the execution had ended: `drsctl run cleanup`, not the execution's
    own DrillCleanup (which the state machine runs before the execution ends; the record keeps whole seconds)."""
    started = (report.get("cleanup") or {}).get("startedAt")
    return started is not None and float(started) > float(report.get("makespanSeconds") or 0) - 1.0


def cleanup(report: dict[str, Any], clock: Clock) -> str:
    """The drill cleanup in a sentence: the planned wait, when it ran (UTC) and what it terminated; or, with none,
    what may still be up and the command that terminates it."""
    done = report.get("cleanup")
    launched = sum(1 for w in report["waves"] for s in w["servers"] if s.get("recoveryInstanceId"))
    if not done:
        return _no_cleanup(report, launched)
    parts = []
    wait_from, after = done.get("waitStartedAt"), done.get("afterMinutes")
    status = done.get("status")
    count = len(done.get("terminated") or [])
    if cleanup_after_the_end(report):
        parts.append(
            f"Not the execution's own cleanup: `drsctl run cleanup {report['executionId']}` started it after the "
            f"execution had ended ({clock.iso_text(report.get('endTime'))})."
        )
    elif after is not None:
        planned = f"Planned {after} min after the drill ended"
        if wait_from is not None:
            planned += f" (it ended at {clock.text(wait_from)}, so due at {clock.text(float(wait_from) + after * 60)})"
        parts.append(planned + ".")
    if done.get("startedAt") is not None:
        ran = f"Ran from {clock.text(done['startedAt'])} to {clock.text(done.get('endedAt'))}"
        parts.append(f"{ran}: {count} recovery instance(s) terminated, ended {status}.")
    elif status == "KEPT":
        parts.append("The instances were kept, as the plan says for a drill that failed (OnFailure: KEEP).")
    else:
        parts.append(f"It did not terminate anything (status {status}).")
    if done.get("detail") and status != "COMPLETED":  # why it failed or kept them
        parts.append(str(done["detail"]))
    return " ".join(parts)


def _no_cleanup(report: dict[str, Any], launched: int) -> str:
    if report["mode"] == "RECOVERY":
        return "No cleanup: a recovery keeps its recovery instances."
    if report.get("source") == "rehearsal":
        return "No cleanup ran: the plan asked for none (Options.DrillCleanup). A rehearsal's instances are emulated."
    running = still_in_jobs(report)
    if not launched and not running:
        return "No cleanup ran, and this drill launched no recovery instance."
    up = []
    if launched:
        up.append(f"the {launched} recovery instance(s) this drill launched were not terminated by it")
    if running:
        up.append(
            f"{running} server(s) were still in DRS launch jobs when it ended: DRS finishes those launches, so their "
            "drill instances may be up now"
        )
    said = "; ".join(up)
    return (
        f"No cleanup ran: the plan asked for none (Options.DrillCleanup), or the drill ended before it. "
        f"{said[0].upper() + said[1:]}. Terminate them with `drsctl run cleanup {report['executionId']}`."
    )
