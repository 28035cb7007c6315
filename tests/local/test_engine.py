"""The moto patches of drsctl.local.engine: they must fail loudly if moto's internals move."""

from __future__ import annotations

import inspect
import json
import time
from datetime import UTC, datetime

import boto3
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.dynamodb.models import DynamoDBBackend
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

from drsctl.clock import VirtualClock
from drsctl.local import engine
from drsctl.local.rehearsal import substitute

WAIT_AN_HOUR = {
    "StartAt": "Wait an hour",
    "States": {
        "Wait an hour": {"Type": "Wait", "Seconds": 3600, "Next": "Call"},
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${Fn}", "Payload": {"Now.$": "$$.State.EnteredTime"}},
            "ResultSelector": {"Echo.$": "$.Payload"},
            "Retry": [{"ErrorEquals": ["ValueError"], "IntervalSeconds": 600, "MaxAttempts": 1}],
            "End": True,
        },
    },
}


def echo_handler(event, context):
    return {"now": event["Now"], "function": context.function_name}


def failing_handler(event, context):
    raise ValueError("bad things")


def test_the_patched_internals_still_exist_with_the_signatures_we_replace():
    assert list(inspect.signature(LambdaFunction._invoke_lambda).parameters) == ["self", "event"]
    assert list(inspect.signature(WaitFunction._wait_interval).parameters) == ["self", "env", "wait_seconds"]
    assert "time.sleep(interval_seconds)" in inspect.getsource(retrier_decl)
    assert isinstance(inspect.getattr_static(EventManager, "_get_current_timestamp"), staticmethod)
    assert "original_table_state[table_name] = copy.deepcopy(" in inspect.getsource(
        DynamoDBBackend.transact_write_items
    )
    for module in engine._DATETIME_USERS:
        assert "datetime.datetime.now(" in inspect.getsource(module), module.__name__


def _run(definition: dict, handler: str) -> tuple[VirtualClock, dict, list[dict], engine.EngineStats]:
    clock = VirtualClock()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), engine.virtual_engine(clock) as stats:
        awslambda = boto3.client("lambda", region_name="us-east-1")
        role = "arn:aws:iam::123456789012:role/test"
        boto3.client("iam", region_name="us-east-1").create_role(RoleName="test", AssumeRolePolicyDocument="{}")
        function = awslambda.create_function(
            FunctionName="fn",
            Runtime="python3.12",
            Role=role,
            Handler=handler,
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        )
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="m", definition=substitute(json.dumps(definition), {"Fn": function["FunctionArn"]}), roleArn=role
        )
        arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")["executionArn"]
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(0.005)
        history = sfn.get_execution_history(executionArn=arn)["events"]
        return clock, described, history, stats


def test_waits_advance_the_virtual_clock_and_handlers_run_in_process():
    clock_start = VirtualClock().now()
    clock, described, history, stats = _run(WAIT_AN_HOUR, "tests.local.test_engine.echo_handler")
    assert described["status"] == "SUCCEEDED"
    assert clock.now() - clock_start == 3600
    output = json.loads(described["output"])["Echo"]
    assert output["function"] == "fn"
    assert datetime.fromisoformat(output["now"]).timestamp() == clock_start + 3600  # $$.State.EnteredTime
    assert (described["stopDate"] - described["startDate"]).total_seconds() == 3600
    assert history[-1]["timestamp"] == datetime.fromtimestamp(clock_start + 3600, tz=UTC)
    assert [i.function for i in stats.invocations] == ["fn"]


def test_errors_carry_the_exception_class_as_error_type_and_retry_backoff_is_virtual():
    clock_start = VirtualClock().now()
    clock, described, history, stats = _run(WAIT_AN_HOUR, "tests.local.test_engine.failing_handler")
    assert described["status"] == "FAILED"
    assert described["error"] == "ValueError"
    assert "bad things" in described["cause"]
    assert [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"] == ["ValueError"] * 2
    assert clock.now() - clock_start == 3600 + 600  # the retry's interval passed on the clock, not in real time
    assert [i.error for i in stats.invocations] == ["ValueError", "ValueError"]


FLAKY_TWICE = {
    "StartAt": "Begin",
    "States": {
        "Begin": {"Type": "Pass", "Result": {"Count": 0}, "Next": "Call"},
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${Fn}", "Payload": {"Count.$": "$.Count"}},
            "ResultSelector": {"Count.$": "$.Payload.Count"},
            "Retry": [{"ErrorEquals": ["ValueError"], "IntervalSeconds": 1, "MaxAttempts": 1}],
            "Next": "Again?",
        },
        "Again?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.Count", "NumericLessThan": 3, "Next": "Call"}],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}
_calls: list[int] = []


def fails_first_time_each_round(event, context):
    """Fails once per round: needs one retry each time its state is entered."""
    _calls.append(event.get("Count", 0))
    if _calls.count(event.get("Count", 0)) == 1:
        raise ValueError("first attempt of this round")
    return {"Count": event.get("Count", 0) + 1}


def test_retry_attempts_start_afresh_each_time_a_state_is_entered():
    _calls.clear()
    _, described, history, _ = _run(FLAKY_TWICE, "tests.local.test_engine.fails_first_time_each_round")
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert [e["type"] for e in history].count("TaskFailed") == 3  # one retry in each of three rounds
