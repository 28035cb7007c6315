"""What the stack's EventBridge rules do when an execution ends, done by a watcher thread in the sandbox.

In AWS a rule sends FAILED, TIMED_OUT and ABORTED executions to the reconcile Lambda (so a stopped execution's
record ends CANCELLED), another every ended execution to the report function (its report into the bucket), and the
topic hears of every finished execution. Here a thread looks at the executions ten times a second (sandbox time
runs fast, real time does not) and does both, once per execution. It reads their statuses from the engine itself
(`LocalAws.executions`): ListExecutions through the SDK ten times a second cost a sixth of a core per sandbox.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import Any

import boto3

from drsctl.local.rehearsal import REGION, STOPPED, TERMINAL, LocalAws
from drsctl.operate.vocabulary import execution_state
from lambdas.core import records
from lambdas.core.approvals import ON_TIMEOUT, iso_utc

POLL_SECONDS = 0.1
REPORT_FUNCTION = "drs-orchestrator-publish-report"  # rehearsal.function_name("publish_report")


class StatusChanges:
    """Deliver each execution's end once: reconcile for a stopped one, a notification on the topic for all."""

    def __init__(self, aws: LocalAws, topic_arn: str, say: Callable[[str], None] | None = None) -> None:
        self.aws = aws
        self.topic_arn = topic_arn
        self.say = say or (lambda line: None)
        self.delivered: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-eventbridge", daemon=True)

    def start(self) -> StatusChanges:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.deliver_once(stepfunctions, sns)
            except Exception as error:  # noqa: BLE001 - keep watching; say what went wrong where the operator sees it
                sys.stderr.write(f"sandbox: could not deliver an execution's status change: {error}\n")

    def deliver_once(self, stepfunctions: Any, sns: Any) -> None:
        for arn, status in self.aws.executions():
            if status not in TERMINAL or arn in self.delivered:
                continue
            described = stepfunctions.describe_execution(executionArn=arn)
            self.delivered.add(arn)  # once, whatever happens: a failing delivery must not block the others
            if described["status"] in STOPPED:
                try:
                    self.aws.deliver_status_change(described)
                except Exception as error:  # noqa: BLE001 - as EventBridge: the event goes to its DLQ, not a loop
                    self.say(f"reconcile of {described['name']} failed: {type(error).__name__}: {error}")
            self.say(f"execution {described['name']} ended {self._state(described)}")
            self._keep_report(described)
            sns.publish(
                TopicArn=self.topic_arn,
                Subject=f"Execution {described['name']} {described['status']}"[:100],
                Message=json.dumps({"executionArn": arn, "name": described["name"], "status": described["status"]}),
            )

    def _keep_report(self, described: dict[str, Any]) -> None:
        """As the stack's rule does: the report function writes the execution's report to the bucket."""
        event = {  # as EventBridge sends it: `time` the sandbox's (its clock, which the report's times are in)
            "detail-type": "Step Functions Execution Status Change",
            "time": iso_utc(int(self.aws.clock.now())),
            "detail": {"name": described["name"]},
        }
        try:
            result = self.aws.invoke(REPORT_FUNCTION, event)
        except Exception as error:  # noqa: BLE001 - as EventBridge: a failed delivery is said, the watch goes on
            self.say(f"the report of {described['name']} could not be kept: {type(error).__name__}: {error}")
            return
        if result.get("Kept"):
            self.say(f"report of {described['name']} kept: s3://{result['Bucket']}/{result['Html']}")
        else:
            self.say(f"no report of {described['name']}: a scheduled drill refused before it started")

    def _state(self, described: dict[str, Any]) -> str:
        """How it ended, in the CLI's words (drsctl/operate/vocabulary.py): its record's status once ended (PARTIAL is
        a SUCCEEDED execution), else what Step Functions says, mapped (ABORTED: CANCELLED)."""
        try:
            record = records.find_execution_by_id(described["name"])
        except Exception:  # noqa: BLE001 - the log line must not fail on a record it cannot read
            record = None
        return execution_state(record.Status if record is not None else None, described["status"])


APPROVAL_FUNCTION_SUFFIX = "request-approval"


def approval_announcer(say: Callable[[str], None]) -> Callable[..., None]:
    """An engine listener that says when an approval is asked: the question, the wave and step, when it was asked,
    its deadline, what happens on timeout and how to answer (what the topic tells the approvers; times in UTC on the
    sandbox's clock, as the records have them)."""

    def announce(invocation: Any, request: dict[str, Any], response: Any) -> None:
        if not invocation.function.endswith(APPROVAL_FUNCTION_SUFFIX) or invocation.error is not None:
            return
        name = str(request.get("ExecutionId"))
        cursor = request.get("Steps") or {}
        wave = records.find_wave(name, int(request.get("WaveNumber") or 0))
        step = next(
            (
                s
                for s in (wave.Steps if wave is not None else [])
                if s.get("Phase") == cursor.get("Phase") and s.get("Index") == cursor.get("Index")
            ),
            {},
        )
        where = "after" if cursor.get("Phase") == "AFTER" else "before"
        on_timeout = str(step.get("OnTimeout") or "FAIL")
        say(
            f"execution {name} waits for approval {step.get('Name', cursor.get('Name'))!r} {where} wave "
            f"{request.get('WaveNumber')} ({request.get('WaveName')}): {cursor.get('Message')} | asked "
            f"{iso_utc(step.get('StartedAt'))}, deadline {iso_utc(step.get('Deadline'))}, on timeout {on_timeout}: "
            f"{ON_TIMEOUT.get(on_timeout, '')} | {step.get('ApproversNeeded') or 1} approval(s) needed | answer: "
            f'drsctl run approve {name} --reason "..." (or --reject --reason "...")'
        )

    return announce
