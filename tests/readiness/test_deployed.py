"""Readiness as the stack runs it, on the rehearsal's stage (moto's tables, S3, CloudWatch, EventBridge, SNS; the DRS
emulator): the result kept per plan, the metric, the event on a change of status, the notification on FAIL, history
and locks read from the records, and the handler's every-30-minutes run within its time."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from lambdas.core import accounts, locks, records
from lambdas.core.accounts import Target
from lambdas.core.plan import parse_plan
from lambdas.core.plan_version import plan_version
from lambdas.core.readiness import notify, service, store
from lambdas.core.records import ExecutionRecord
from tests.conftest import server_id

REGION = "us-east-1"
SERVERS = [server_id(n, "dep") for n in range(3)]
WEB = [server_id(n, "web") for n in range(3)]
NOW = 1_767_225_600 + 86_400


def _scenario(**changes: Any) -> dict[str, Any]:
    servers = [{"id": s, "hostname": f"db-{n}"} for n, s in enumerate(SERVERS)]
    servers += [{"id": s, "hostname": f"web-{n}", "tags": {"Tier": "web"}} for n, s in enumerate(WEB)]
    return {"region": REGION, "seed": 4, "servers": servers, **changes}


PLAN = {
    "PlanId": "shop",
    "Name": "Shop",
    "ProtectionGroups": [
        {"GroupId": "db", "Region": REGION, "SourceServerIds": SERVERS},
        {"GroupId": "web", "Region": REGION, "Selector": {"Tags": {"Tier": "web"}}},
    ],
    "Waves": [{"WaveName": "db", "ProtectionGroupId": "db"}, {"WaveName": "web", "ProtectionGroupId": "web"}],
}


class Listener:
    """What the world heard: the topic's messages and the default bus's events, through SQS queues."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        topic = sns.create_topic(Name="notifications")["TopicArn"]
        self.topic_queue = self._queue("topic")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=self._arn(self.topic_queue))
        self.event_queue = self._queue("events")
        events.put_rule(Name="readiness", EventPattern=json.dumps({"source": [notify.EVENT_SOURCE]}))
        events.put_targets(Rule="readiness", Targets=[{"Id": "q", "Arn": self._arn(self.event_queue)}])
        bucket = "reports-bucket"
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=bucket)
        monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", topic)
        monkeypatch.setenv("REPORT_BUCKET", bucket)
        monkeypatch.setenv("METRICS_NAMESPACE", "DrsOrchestrator/Test")
        self.bucket = bucket

    def _queue(self, name: str) -> str:
        return str(self.sqs.create_queue(QueueName=name)["QueueUrl"])

    def _arn(self, url: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    def _drain(self, url: str) -> list[dict[str, Any]]:
        found = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            found += [json.loads(m["Body"]) for m in messages]
            for message in messages:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def notifications(self) -> list[dict[str, Any]]:
        return self._drain(self.topic_queue)

    def events(self) -> list[dict[str, Any]]:
        return [event["detail"] for event in self._drain(self.event_queue)]

    def statuses(self) -> dict[str, float]:
        """The plan's ReadinessStatus data points: how many, the lowest and the highest."""
        answer = boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
            Namespace="DrsOrchestrator/Test",
            MetricName=notify.STATUS_METRIC,
            Dimensions=[{"Name": "PlanId", "Value": "shop"}],
            StartTime=0,
            EndTime=4_000_000_000,
            Period=4_000_000_000 // 60 * 60,
            Statistics=["SampleCount", "Minimum", "Maximum"],
        )
        (point,) = answer["Datapoints"]
        return {key: point[key] for key in ("SampleCount", "Minimum", "Maximum")}


def _record(execution_id: str, status: str, start: int, version: str, **fields: Any) -> None:
    item = ExecutionRecord(
        ExecutionId=execution_id,
        PlanId="shop",
        ExecutionType="DRILL",
        Status=status,
        StartTime=start,
        EndTime=start + 1200,
        PlanVersion=version,
        **fields,
    ).model_dump()
    records.table(records.EXECUTION_HISTORY_TABLE).put_item(Item=records.to_item(item))


def test_the_result_is_kept_published_and_announced_as_the_status_changes(stage, monkeypatch):
    with stage(_scenario()) as aws:
        listener = Listener(monkeypatch)
        records.save_plan(parse_plan(PLAN))
        first = service.evaluate_stored_plan("shop", NOW)
        assert (first.status, [f.code for f in first.findings]) == ("WARN", ["DRILL_OVERDUE"])
        kept = store.stored_readiness("shop")
        assert kept is not None and kept.status == "WARN" and kept.complete
        assert kept.baseline == {"PlanVersion": first.planVersion, "SelectorCounts": {"web": 3}}
        whole = boto3.client("s3", region_name=REGION).get_object(Bucket=listener.bucket, Key="readiness/shop.json")
        assert json.loads(whole["Body"].read()) == first.model_dump(mode="json")
        assert [e["status"] for e in listener.events()] == ["WARN"]  # new: its first status
        assert listener.notifications() == []  # WARN is not FAIL

        # The estate drifts: a web server loses its tag (the selector matches fewer), a db server stalls
        emulated = aws.drs.servers
        emulated[(REGION, WEB[0])].tags = {}
        emulated[(REGION, SERVERS[1])].spec = emulated[(REGION, SERVERS[1])].spec.model_copy(
            update={"replication": "STALLED"}
        )
        second = service.evaluate_stored_plan("shop", NOW + 1800)
        assert second.status == "FAIL"
        assert {(f.code, f.severity) for f in second.findings} >= {
            ("REPLICATION_NOT_HEALTHY", "FAIL"),
            ("SERVER_NOT_FOUND", "WARN"),  # 2 of the 3 it matched at load
        }
        events = listener.events()
        assert [(e["status"], e["previousStatus"]) for e in events] == [("FAIL", "WARN")]
        assert "REPLICATION_NOT_HEALTHY" in events[0]["codes"]
        (message,) = listener.notifications()
        assert "shop" in message["Subject"] and SERVERS[1] in message["Message"] and "Fix:" in message["Message"]

        # Still FAIL half an hour later: kept and measured, not announced again
        service.evaluate_stored_plan("shop", NOW + 3600)
        assert listener.events() == [] and listener.notifications() == []
        assert store.stored_readiness("shop").previous_status == "WARN"  # type: ignore[union-attr]
        assert listener.statuses() == {"SampleCount": 3, "Minimum": 1, "Maximum": 2}  # WARN, FAIL, FAIL


def test_drills_and_locks_come_from_the_records(stage, monkeypatch):
    with stage(_scenario()):
        Listener(monkeypatch)
        plan = parse_plan({**PLAN, "Options": {"RtoTargetMinutes": 15}})
        records.save_plan(plan)
        version = plan_version(plan)
        _record("old-version", "COMPLETED", NOW - 86_400, "0" * 12)
        overdue = service.evaluate_stored_plan("shop", NOW)
        assert "ran version 000000000000" in next(f.detail for f in overdue.findings if f.code == "DRILL_OVERDUE")
        _record("drilled", "COMPLETED", NOW - 3600, version)  # 20 minutes: over the 15-minute RTO
        drilled = service.evaluate_stored_plan("shop", NOW)
        assert [f.code for f in drilled.findings] == ["RTO_AT_RISK"]
        assert "drilled" in drilled.findings[0].detail

        # A lock of the plan's server still held by a drill whose record has ended: stale
        _record("ended-holder", "FAILED", NOW - 7200, version)
        lock = locks.server_lock(Target(accounts.home_account(), REGION), SERVERS[0])
        locks.acquire([lock], execution_id="ended-holder", execution_arn=None, plan_id="shop", now=NOW - 7200)
        stale = service.evaluate_stored_plan("shop", NOW)
        (finding,) = [f for f in stale.findings if f.code == "LOCK_STALE"]
        assert finding.sourceServerId == SERVERS[0] and "ended-holder" in finding.detail and "FAILED" in finding.detail


def test_the_scheduled_run_evaluates_every_plan_oldest_first_while_time_allows(stage, monkeypatch):
    with stage(_scenario()):
        Listener(monkeypatch)
        for plan_id in ("a", "b", "c"):
            records.save_plan(parse_plan({**PLAN, "PlanId": plan_id}))
        service.evaluate_stored_plan("b", NOW - 600)  # b was evaluated lately: last in line
        left = iter([900.0, 900.0, 60.0])  # time for two plans
        done = service.evaluate_due(NOW, lambda: next(left))
        assert [d.plan_id for d in done] == ["a", "c"]
        assert store.stored_readiness("b").evaluated_at == NOW - 600  # type: ignore[union-attr]
