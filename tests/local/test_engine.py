"""The moto patches of drsctl.local.engine: they must fail loudly if moto's internals move."""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import endpoint as botocore_endpoint
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import LimitedSizeDict
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.parser import quotas
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.asl.component.common.parargs import Parargs
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_selector import ItemSelector
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.backend import execution as execution_module

from drsctl.clock import VirtualClock
from drsctl.local import engine
from drsctl.local.rehearsal import substitute
from lambdas.core.item_size import ITEM_MAX_BYTES

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


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_patched_internals_still_exist_with_the_signatures_we_replace():
    assert _parameters(LambdaFunction._invoke_lambda) == ["self", "event"]
    assert _parameters(WaitFunction._wait_interval) == ["self", "env", "wait_seconds"]
    assert "time.sleep(interval_seconds)" in inspect.getsource(retrier_decl)
    assert _parameters(retrier_decl.RetrierDecl._eval_body) == ["self", "env"]
    assert "time.sleep(" in inspect.getsource(botocore_endpoint)
    # Patch 7: where each random draw is made
    from botocore import retryhandler
    from botocore.retries import standard
    from moto.stepfunctions.parser import utils as parser_utils
    from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl

    assert "self._random()" in inspect.getsource(standard.ExponentialBackoff.delay_amount)
    assert "base = random.random()" in inspect.getsource(retryhandler.delay_exponential)
    assert "random.uniform(0, interval_seconds)" in inspect.getsource(jitter_strategy_decl)
    assert "return str(uuid4())" in inspect.getsource(parser_utils.long_uid)
    assert isinstance(inspect.getattr_static(EventManager, "_get_current_timestamp"), staticmethod)
    assert _parameters(EventManager.add_event)[:3] == ["self", "context", "event_type"]
    for module in engine._DATETIME_USERS:
        assert "datetime.datetime.now(" in inspect.getsource(module), module.__name__


def test_the_dynamodb_internals_we_patch_are_as_we_read_them():
    transact = inspect.getsource(DynamoDBBackend.transact_write_items)
    # Patch 5: moto backs up whole tables with `copy.deepcopy` and rolls back by putting them back; our `copy`
    # stand-in returns the table itself, so its rollback is a no-op and ours (item by item) decides.
    assert "original_table_state[table_name] = copy.deepcopy(" in transact
    assert "self.tables[table_name] = original_table_state[table_name]" in transact
    assert "self.put_item(" in transact and "self.update_item(" in transact
    # Patch 10: an action's exception becomes a cancellation reason named after its class.
    assert "errors.append((type(e).__name__, str(e), original_item))" in transact
    assert "except (MultipleTransactionsException, MockValidationException):" in transact
    assert _parameters(DynamoDBBackend.put_item)[:3] == ["self", "table_name", "item_attrs"]
    assert _parameters(DynamoDBBackend.update_item)[:3] == ["self", "table_name", "key"]
    # The one deep copy UpdateItem makes is of the item before the update: kept to put it back.
    update = inspect.getsource(DynamoDBBackend.update_item)
    assert update.count("copy.deepcopy(") == 1 and "orig_item = copy.deepcopy(item)" in update
    assert _parameters(DynamoDBBackend.get_keys_value) == ["self", "table", "keys"]
    assert "raise ItemSizeTooLarge" in inspect.getsource(LimitedSizeDict.__setitem__)  # moto's check, switched off
    assert "self.dynamodb_backend.transact_write_items(transact_items)" in inspect.getsource(
        DynamoHandler.transact_write_items
    )
    assert "self.dynamodb_backend.put_item(table_name, item)" in inspect.getsource(DynamoHandler.batch_write_item)
    assert "self.body = " in inspect.getsource(DynamoHandler.call_action)
    # Patch 15: DynamoDB answers pass through `serialized(action_result)`; 16: moto sizes items with `Item.size`;
    # 17: the backend looks conditions up as a module-level name.
    assert _parameters(DynamoHandler.serialized) == ["self", "action_result"]
    from moto.dynamodb.models import dynamo_type

    assert "def size(self) -> int:" in inspect.getsource(dynamo_type.Item)
    assert "get_filter_expression(" in inspect.getsource(DynamoDBBackend.transact_write_items)
    # 18: Query takes its arguments in this order, and reads the partition through `self.all_items()`.
    from moto.dynamodb.models.table import Table

    assert _parameters(Table.query)[1 + engine._QUERY_INDEX_NAME_ARG] == "index_name"
    assert "for item in self.all_items()" in inspect.getsource(Table.query)
    # 19: the UpdateItem handler reads the item before through the backend's get_item, and renders what it returns.
    handler_update = inspect.getsource(DynamoHandler.update_item)
    assert "existing_item = copy.deepcopy(self.dynamodb_backend.get_item(name, key))" in handler_update
    assert "item_dict = item.to_json()" in handler_update
    assert "table.get_item(hash_value, range_value)" in inspect.getsource(DynamoDBBackend.update_item)


def test_the_step_functions_internals_we_patch_are_as_we_read_them():
    # Patch 12: Program.eval is replaced whole; it must still be the wall-clock join we replace.
    program_eval = inspect.getsource(Program.eval)
    assert "worker_thread.join(timeout=timeout)" in program_eval and "env.set_timed_out()" in program_eval
    assert "def set_timed_out(self)" in inspect.getsource(Environment)
    assert "self._program_state = ProgramError(error=error)" in inspect.getsource(Environment.set_error)
    assert "ExecutionStatus.TIMED_OUT" in inspect.getsource(execution_module.BaseExecutionWorkerCommunication)
    assert "frame.event_manager = env.event_manager" in inspect.getsource(Environment.as_inner_frame_of)
    assert _parameters(CommonStateField._eval_body) == ["self", "env"]
    # Patch 13: each task runs on a `Thread` of execute_state, waited for on the wall clock.
    evaluate = inspect.getsource(ExecutionState._evaluate_with_timeout)
    assert "thread = Thread(target=_exec_and_notify" in evaluate
    assert "terminated_event.wait(timeout_seconds)" in evaluate and "raise EvalTimeoutError()" in evaluate
    assert execute_state.Thread is threading.Thread
    # Patch 14
    for module in engine._QUOTA_USERS:
        assert module.is_within_size_quota is quotas.is_within_size_quota, module.__name__
    assert _parameters(Parargs._eval_body) == _parameters(ItemSelector._eval_body) == ["self", "env"]
    assert "_STATE_ALL_ERROR in self.error_names" in inspect.getsource(ErrorEqualsDecl._eval_body)


@dataclass
class Stage:
    clock: VirtualClock
    stats: engine.EngineStats
    sfn: Any
    function_arn: str
    role: str

    def start(self, definition: dict[str, Any], execution_input: Any = None, name: str | None = None) -> str:
        machine = self.sfn.create_state_machine(
            name=name or f"m{len(self.sfn.list_state_machines()['stateMachines'])}",
            definition=substitute(json.dumps(definition), {"Fn": self.function_arn}),
            roleArn=self.role,
        )
        arn: str = self.sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"], input=json.dumps(execution_input or {})
        )["executionArn"]
        return arn

    def finish(self, arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        deadline = time.monotonic() + 60
        while (described := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not end"
            time.sleep(0.005)
        return described, self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]

    def run(
        self, definition: dict[str, Any], execution_input: Any = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return self.finish(self.start(definition, execution_input))


@contextmanager
def _stage(handler: str, timeout: int | None = None) -> Iterator[Stage]:
    """A mocked account with one function `fn` running `handler`, under the engine."""
    clock = VirtualClock()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), engine.virtual_engine(clock) as stats:
        role = "arn:aws:iam::123456789012:role/test"
        boto3.client("iam", region_name="us-east-1").create_role(RoleName="test", AssumeRolePolicyDocument="{}")
        function = boto3.client("lambda", region_name="us-east-1").create_function(
            FunctionName="fn",
            Runtime="python3.12",
            Role=role,
            Handler=handler,
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
            **({"Timeout": timeout} if timeout is not None else {}),
        )
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        yield Stage(clock, stats, sfn, function["FunctionArn"], role)


def _run(definition: dict, handler: str) -> tuple[VirtualClock, dict, list[dict], engine.EngineStats]:
    with _stage(handler) as stage:
        described, history = stage.run(definition)
        return stage.clock, described, history, stage.stats


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


def _task(**fields: Any) -> dict[str, Any]:
    """A Task state invoking `fn` with `$` as its payload and `$.Payload` as its result."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${Fn}", "Payload.$": "$"},
        "ResultSelector": {"Result.$": "$.Payload"},
        **fields,
    }


def _events(history: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in history if event["type"] == kind]


# --- 9: faults read at call time ---------------------------------------------------------------------------------


@contextmanager
def _dynamodb(retries: int = 1) -> Iterator[tuple[Any, engine.EngineStats, VirtualClock]]:
    """Table `t` (key pk) and table `r` (keys pk, sk), under the engine; the client makes `retries` attempts."""
    clock = VirtualClock()
    with mock_aws(), engine.virtual_engine(clock) as stats:
        client = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            config=Config(retries={"total_max_attempts": retries, "mode": "standard"}),
        )
        for name, keys in (("t", ["pk"]), ("r", ["pk", "sk"])):
            client.create_table(
                TableName=name,
                KeySchema=[
                    {"AttributeName": k, "KeyType": kind} for k, kind in zip(keys, ("HASH", "RANGE"), strict=False)
                ],
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                BillingMode="PAY_PER_REQUEST",
            )
        yield client, stats, clock


def _error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_dynamodb_faults_set_after_the_engine_started_are_injected():
    with _dynamodb() as (client, stats, _):
        client.put_item(TableName="t", Item={"pk": {"S": "a"}})
        stats.faults = engine.EngineFaults(dynamodb=[engine.DynamoDbFault("GetItem", "InternalServerError")])
        with pytest.raises(ClientError) as raised:
            client.get_item(TableName="t", Key={"pk": {"S": "a"}})
        assert _error(raised)[0] == "InternalServerError"
        assert client.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}  # count spent


# --- 8: an invocation's time is its own --------------------------------------------------------------------------

_shared: dict[str, Any] = {}


def waits_until_the_clock_moves(event, context):
    """Runs while another execution's Wait moves the shared clock by an hour."""
    clock: VirtualClock = _shared["clock"]
    started = clock.now()
    before = context.get_remaining_time_in_millis()
    _shared["running"].set()
    deadline = time.monotonic() + 10
    while clock.now() < started + 3600 and time.monotonic() < deadline:
        time.sleep(0.002)
    return {"moved": clock.now() - started, "before": before, "after": context.get_remaining_time_in_millis()}


def test_another_executions_wait_does_not_count_for_an_invocations_timeout():
    with _stage("tests.local.test_engine.waits_until_the_clock_moves", timeout=60) as stage:
        _shared.update(clock=stage.clock, running=threading.Event())
        invoking = stage.start({"StartAt": "Call", "States": {"Call": _task(End=True)}})
        assert _shared["running"].wait(10)
        waiting = stage.start({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}})
        described, _ = stage.finish(invoking)
        assert stage.finish(waiting)[0]["status"] == "SUCCEEDED"
    assert described["status"] == "SUCCEEDED", described.get("cause")
    result = json.loads(described["output"])["Result"]
    assert result["moved"] >= 3600  # the clock moved under the handler, on the other execution's thread
    assert 55_000 < result["after"] <= result["before"] <= 60_000  # its own time did not


def sleeps_in_sdk_backoff(event, context):
    before = context.get_remaining_time_in_millis()
    botocore_endpoint.time.sleep(event["Sleep"])  # what botocore does between retries, on the handler's thread
    return {"before": before, "after": context.get_remaining_time_in_millis()}


@pytest.mark.parametrize(("sleep", "status"), [(30, "SUCCEEDED"), (90, "FAILED")])
def test_the_sdk_backoff_an_invocation_sleeps_counts_for_its_timeout(sleep, status):
    with _stage("tests.local.test_engine.sleeps_in_sdk_backoff", timeout=60) as stage:
        described, _ = stage.run({"StartAt": "Call", "States": {"Call": _task(End=True)}}, {"Sleep": sleep})
        assert stage.stats.max_virtual_seconds >= sleep
    assert described["status"] == status
    if status == "SUCCEEDED":
        result = json.loads(described["output"])["Result"]
        assert 29_000 < result["before"] - result["after"] < 31_000
    else:
        assert described["error"] == "Sandbox.Timedout"


# --- 10: item size by DynamoDB's rules ---------------------------------------------------------------------------


def _string_item(key: str, total: int) -> dict[str, Any]:
    """An item of exactly `total` bytes by DynamoDB's rules: pk (2 + len(key)) and Data (4 + its string)."""
    return {"pk": {"S": key}, "Data": {"S": "x" * (total - 2 - len(key) - 4)}}


# 140,000 one-digit numbers: 420,003 bytes for DynamoDB (a list costs 3, each element 1 + 2), 140,000 for moto.
MANY_NUMBERS = {"L": [{"N": "1"}] * 140_000}


def test_puts_are_sized_by_dynamodbs_rules_and_the_largest_item_is_recorded():
    with _dynamodb() as (client, stats, _):
        client.put_item(TableName="t", Item=_string_item("a", ITEM_MAX_BYTES))  # moto alone refuses over 405,000
        for too_large in (_string_item("b", ITEM_MAX_BYTES + 1), {"pk": {"S": "c"}, "Numbers": MANY_NUMBERS}):
            with pytest.raises(ClientError) as raised:
                client.put_item(TableName="t", Item=too_large)
            assert _error(raised) == ("ValidationException", "Item size has exceeded the maximum allowed size")
        assert [item["pk"]["S"] for item in client.scan(TableName="t")["Items"]] == ["a"]
        assert (stats.max_item_bytes, stats.max_item_table) == (ITEM_MAX_BYTES, "t")


def test_an_update_is_sized_as_the_item_it_leaves_nested_paths_included():
    waves = {"L": [{"M": {"Name": {"S": f"wave {n}"}}} for n in range(4)]}
    with _dynamodb() as (client, stats, _):
        client.put_item(TableName="t", Item={"pk": {"S": "a"}, "Waves": waves})
        before = client.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]
        for expression, value in (
            ("SET Waves[3] = :w", {"S": "x" * ITEM_MAX_BYTES}),  # moto does not size nested updates
            ("SET Extra = :w", MANY_NUMBERS),  # nor count a list's overhead
        ):
            with pytest.raises(ClientError) as raised:
                client.update_item(
                    TableName="t",
                    Key={"pk": {"S": "a"}},
                    UpdateExpression=expression,
                    ExpressionAttributeValues={":w": value},
                )
            assert _error(raised) == (
                "ValidationException",
                "Item size to update has exceeded the maximum allowed size",
            )
            assert client.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == before  # left as it was
        with pytest.raises(ClientError):  # an update that would create a new item, too large
            client.update_item(
                TableName="t",
                Key={"pk": {"S": "new"}},
                UpdateExpression="SET N = :w",
                ExpressionAttributeValues={":w": {"S": "x" * ITEM_MAX_BYTES}},
            )
        assert "Item" not in client.get_item(TableName="t", Key={"pk": {"S": "new"}})
        client.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET Waves[3] = :w",
            ExpressionAttributeValues={":w": {"S": "x" * 1000}},
        )
        assert stats.max_item_bytes > 1000


def test_a_batch_with_one_item_too_large_is_refused_whole():
    with _dynamodb() as (client, _, _):
        puts = [
            {"PutRequest": {"Item": item}} for item in ({"pk": {"S": "small"}}, _string_item("big", ITEM_MAX_BYTES + 1))
        ]
        with pytest.raises(ClientError) as raised:
            client.batch_write_item(RequestItems={"t": puts})
        assert _error(raised) == ("ValidationException", "Item size has exceeded the maximum allowed size")
        assert client.scan(TableName="t")["Items"] == []


def test_a_transaction_with_an_item_too_large_is_cancelled_with_a_validation_error():
    with _dynamodb() as (client, stats, _):
        client.put_item(TableName="t", Item={"pk": {"S": "old"}, "V": {"N": "1"}})
        grow = {
            "TableName": "t",
            "Key": {"pk": {"S": "old"}},
            "UpdateExpression": "SET V = :v",
            "ExpressionAttributeValues": {":v": MANY_NUMBERS},
        }
        for offending in (
            {"Update": grow},
            {"Put": {"TableName": "t", "Item": _string_item("big", ITEM_MAX_BYTES + 1)}},
        ):
            with pytest.raises(ClientError) as raised:
                client.transact_write_items(
                    TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}}}}, offending]
                )
            assert _error(raised)[0] == "TransactionCanceledException"
            reasons = raised.value.response["CancellationReasons"]
            assert [reason["Code"] for reason in reasons] == ["None", "ValidationError"]
            assert reasons[1]["Message"] == "Item size has exceeded the maximum allowed size"
            assert {item["pk"]["S"] for item in client.scan(TableName="t")["Items"]} == {"old"}  # nothing applied
            assert client.get_item(TableName="t", Key={"pk": {"S": "old"}})["Item"]["V"] == {"N": "1"}
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "r", "Item": {"pk": {"S": "p"}, "sk": {"S": "s"}, "D": {"S": "x" * 500}}}}
            ]
        )
        assert stats.max_item_table == "r"  # recorded once the transaction committed


# --- 11: TransactWriteItems limits and idempotency ---------------------------------------------------------------


def test_a_transaction_is_limited_to_100_actions_and_4_mb():
    with _dynamodb() as (client, _, _):
        puts = [{"Put": {"TableName": "t", "Item": {"pk": {"S": f"k{n}"}}}} for n in range(101)]
        with pytest.raises(ClientError) as raised:
            client.transact_write_items(TransactItems=puts)
        code, message = _error(raised)
        assert code == "ValidationException"
        assert message.startswith(
            "1 validation error detected: Value '[com.amazonaws.dynamodb.v20120810.TransactWriteItem@"
        )
        assert message.endswith(
            "at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100"
        )
        big = [{"Put": {"TableName": "t", "Item": _string_item(f"k{n}", 400_000)}} for n in range(11)]  # 4.4 MB
        with pytest.raises(ClientError) as raised:
            client.transact_write_items(TransactItems=big)
        assert _error(raised) == ("ValidationException", "Transaction request cannot be larger than 4 MB")
        assert client.scan(TableName="t")["Items"] == []
        client.transact_write_items(TransactItems=puts[:100])
        client.transact_write_items(TransactItems=big[:10])  # 4,000,000 bytes


def _count(client: Any) -> int:
    return int(client.get_item(TableName="t", Key={"pk": {"S": "c"}})["Item"]["Count"]["N"])


INCREMENT = {
    "Update": {
        "TableName": "t",
        "Key": {"pk": {"S": "c"}},
        "UpdateExpression": "ADD #count :one",
        "ExpressionAttributeNames": {"#count": "Count"},
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
}


def test_a_transaction_repeated_with_its_token_within_10_minutes_is_not_applied_again():
    with _dynamodb() as (client, _, clock):
        client.transact_write_items(TransactItems=[INCREMENT], ClientRequestToken="token-1")
        client.transact_write_items(TransactItems=[INCREMENT], ClientRequestToken="token-1")
        assert _count(client) == 1
        with pytest.raises(ClientError) as raised:
            client.transact_write_items(
                TransactItems=[INCREMENT, {"Put": {"TableName": "t", "Item": {"pk": {"S": "other"}}}}],
                ClientRequestToken="token-1",
            )
        assert _error(raised)[0] == "IdempotentParameterMismatchException"
        clock.advance(601)  # the token is forgotten: a new request
        client.transact_write_items(TransactItems=[INCREMENT], ClientRequestToken="token-1")
        assert _count(client) == 2
        failing = [
            INCREMENT,
            {
                "ConditionCheck": {
                    "TableName": "t",
                    "Key": {"pk": {"S": "none"}},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]
        for _ in range(2):  # a cancelled transaction is not remembered: the same token runs (and fails) again
            with pytest.raises(ClientError) as raised:
                client.transact_write_items(TransactItems=failing, ClientRequestToken="token-2")
            assert _error(raised)[0] == "TransactionCanceledException"
        assert _count(client) == 2


def test_the_sdks_retry_of_a_transaction_whose_answer_was_lost_succeeds_without_applying_twice():
    with _dynamodb(retries=3) as (client, stats, _):
        stats.faults = engine.EngineFaults(
            dynamodb=[engine.DynamoDbFault("TransactWriteItems", "InternalServerError", after_effect=True)]
        )
        create = {
            "Put": {
                "TableName": "t",
                "Item": {"pk": {"S": "c"}, "Count": {"N": "0"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        response = client.transact_write_items(
            TransactItems=[create, {**INCREMENT, "Update": {**INCREMENT["Update"], "Key": {"pk": {"S": "d"}}}}]
        )
        assert response["ResponseMetadata"]["RetryAttempts"] == 1  # botocore retried with the same token
        assert _count(client) == 0
        assert client.get_item(TableName="t", Key={"pk": {"S": "d"}})["Item"]["Count"] == {"N": "1"}


# --- 5: a transaction's rollback restores the items it touched ---------------------------------------------------


def test_a_cancelled_transaction_restores_exactly_the_items_it_touched_without_copying_tables():
    def key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    with _dynamodb() as (client, _, _):
        for sk in ("updated", "deleted", "untouched"):
            client.put_item(TableName="r", Item={**key("p", sk), "V": {"S": "before"}})
        table = dynamodb_backends["123456789012"]["us-east-1"].tables["r"]
        before = client.scan(TableName="r")["Items"]
        with pytest.raises(ClientError) as raised:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": "r",
                            "Key": key("p", "updated"),
                            "UpdateExpression": "SET V = :v",
                            "ExpressionAttributeValues": {":v": {"S": "after"}},
                        }
                    },
                    {"Delete": {"TableName": "r", "Key": key("p", "deleted")}},
                    {"Put": {"TableName": "r", "Item": {**key("p", "created"), "V": {"S": "after"}}}},
                    {"Put": {"TableName": "r", "Item": {**key("q", "created"), "V": {"S": "after"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": "r",
                            "Key": key("p", "missing"),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                ]
            )
        assert _error(raised)[0] == "TransactionCanceledException"
        assert client.scan(TableName="r")["Items"] == before
        assert dynamodb_backends["123456789012"]["us-east-1"].tables["r"] is table  # no copy of the table was made


# --- 12: an execution's TimeoutSeconds on the virtual clock -----------------------------------------------------


def fails_always(event, context):
    raise ValueError("always")


def sleeps_an_hour_and_ten(event, context):
    botocore_endpoint.time.sleep(4200)
    return {}


WAIT_PAST_THE_TIMEOUT = {
    "TimeoutSeconds": 3600,
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "Seconds": 7200, "Next": "After"}, "After": {"Type": "Pass", "End": True}},
}
RETRY_PAST_THE_TIMEOUT = {
    "TimeoutSeconds": 3600,
    "StartAt": "Call",
    "States": {
        "Call": _task(Retry=[{"ErrorEquals": ["ValueError"], "IntervalSeconds": 5000, "MaxAttempts": 2}], End=True)
    },
}
WAIT_IN_A_MAP_PAST_THE_TIMEOUT = {
    "TimeoutSeconds": 3600,
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.Items",
            "MaxConcurrency": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Wait",
                "States": {"Wait": {"Type": "Wait", "Seconds": 3000, "End": True}},
            },
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    },
}
TASK_PAST_THE_TIMEOUT = {
    "TimeoutSeconds": 3600,
    "StartAt": "Call",
    "States": {"Call": _task(Next="After"), "After": {"Type": "Pass", "End": True}},
}


@pytest.mark.parametrize(
    ("definition", "handler", "ended_after"),
    [
        (WAIT_PAST_THE_TIMEOUT, "echo_handler", 3600),  # ends at the deadline, whatever the Wait asked
        (RETRY_PAST_THE_TIMEOUT, "fails_always", 3600),  # a Retry backoff too
        (WAIT_IN_A_MAP_PAST_THE_TIMEOUT, "echo_handler", 3600),  # inside a Map iteration too, not caught
        (TASK_PAST_THE_TIMEOUT, "sleeps_an_hour_and_ten", 4200),  # time passed in a Lambda: caught when it ends
    ],
    ids=["wait", "retry backoff", "wait in a map", "lambda sdk backoff"],
)
def test_an_execution_past_its_timeout_seconds_of_virtual_time_ends_timed_out(definition, handler, ended_after):
    with _stage(f"tests.local.test_engine.{handler}", timeout=5000) as stage:
        started = stage.clock.now()
        described, history = stage.run(definition, {"Items": [1, 2, 3]})
        assert stage.clock.now() - started == ended_after
    assert described["status"] == "TIMED_OUT"
    assert (described["stopDate"] - described["startDate"]).total_seconds() == ended_after
    assert history[-1]["type"] == "ExecutionTimedOut"
    assert history[-1]["timestamp"] == datetime.fromtimestamp(started + ended_after, tz=UTC)
    assert not _events(history, "PassStateEntered")  # nothing ran after the deadline


# --- 13: a Task's TimeoutSeconds on the virtual clock ------------------------------------------------------------

_effects: list[int] = []


def slow_first_time(event, context):
    _effects.append(event["Attempt"])
    if event["Attempt"] == 0:
        botocore_endpoint.time.sleep(150)  # within the function's 300 s, past the task's 100 s
    return {"attempt": event["Attempt"]}


SLOW_TASK = {
    "StartAt": "Call",
    "States": {
        "Call": {
            **_task(TimeoutSeconds=100, End=True),
            "Parameters": {"FunctionName": "${Fn}", "Payload": {"Attempt.$": "$$.State.RetryCount"}},
            "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 1}],
        }
    },
}


def test_a_task_past_its_timeout_seconds_of_virtual_time_fails_with_states_timeout_and_is_retried():
    _effects.clear()
    with _stage("tests.local.test_engine.slow_first_time", timeout=300) as stage:
        described, history = stage.run(SLOW_TASK)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"])["Result"] == {"attempt": 1}
    assert _effects == [0, 1]  # the first attempt's effects were kept
    assert [event["taskTimedOutEventDetails"]["error"] for event in _events(history, "TaskTimedOut")] == [
        "States.Timeout"
    ]
    assert len(_events(history, "TaskSucceeded")) == 1  # the timed-out attempt never reported success


# --- 9: a lost invocation and a hung one cost their time --------------------------------------------------------

RETRIED_TASK = {
    "StartAt": "Call",
    "States": {
        "Call": {
            **_task(TimeoutSeconds=90, End=True),
            "Retry": [{"ErrorEquals": ["States.Timeout", "Sandbox.Timedout"], "IntervalSeconds": 2, "MaxAttempts": 3}],
        }
    },
}


@pytest.mark.parametrize(
    ("kind", "error", "attempt_seconds"),
    [("no_answer", "States.Timeout", 91), ("hang", "Sandbox.Timedout", 60)],
    ids=["no answer: the task's 90 s", "hung: the function's 60 s"],
)
def test_a_lost_or_hung_invocation_costs_its_timeout_and_the_fourth_attempt_answers(kind, error, attempt_seconds):
    with _stage("tests.local.test_engine.echo_handler", timeout=60) as stage:
        stage.stats.faults = engine.EngineFaults(
            lambdas=[engine.LambdaFault("fn", n, kind, every=4) for n in (1, 2, 3)]
        )
        started = stage.clock.now()
        described, history = stage.run(RETRIED_TASK, {"Now": "x"})
        took = stage.clock.now() - started
    assert described["status"] == "SUCCEEDED", described.get("cause")
    failed = _events(history, "TaskTimedOut") + _events(history, "TaskFailed")
    assert [e.get("taskTimedOutEventDetails", e.get("taskFailedEventDetails"))["error"] for e in failed] == [error] * 3
    assert took == pytest.approx(3 * attempt_seconds + 2 + 4 + 8, abs=1)  # three attempts to their limit, backoff
    # the fifth invocation is the next run's first: it fails again (every 4th answers)
    assert engine.LambdaFault("fn", 1, kind, every=4).applies("fn", 5)
    assert not engine.LambdaFault("fn", 1, kind, every=4).applies("fn", 4)


# --- 14: the payload limit ---------------------------------------------------------------------------------------


def returns(event, context):
    return event["Value"] * event["Times"]


CAUGHT_BY_ALL = {
    "StartAt": "Call",
    "States": {
        "Call": _task(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], End=True),
        "Caught": {"Type": "Pass", "End": True},
    },
}
# The Lambda's payload is twice the state's input; its result (and so the state's output) is small.
PARAMETERS_DOUBLE = {
    "StartAt": "Call",
    "States": {
        "Call": {
            **CAUGHT_BY_ALL["States"]["Call"],
            "Parameters": {
                "FunctionName": "${Fn}",
                "Payload": {"Value": "", "Times": 0, "A.$": "$.Value", "B.$": "$.Value"},
            },
            "ResultPath": "$.Result",
        },
        "Caught": {"Type": "Pass", "End": True},
    },
}
MISSING_PATH_CAUGHT_BY_ALL = {
    "StartAt": "Call",
    "States": {
        "Call": {**CAUGHT_BY_ALL["States"]["Call"], "ResultSelector": {"Missing.$": "$.Payload.Missing"}},
        "Caught": {"Type": "Pass", "End": True},
    },
}


@pytest.mark.parametrize(
    ("definition", "execution_input", "status", "error"),
    [
        (CAUGHT_BY_ALL, {"Value": "x", "Times": 300_000}, "FAILED", "States.DataLimitExceeded"),  # not caught
        (CAUGHT_BY_ALL, {"Value": "é", "Times": 100_000}, "SUCCEEDED", None),  # 200,000 UTF-8 bytes
        (PARAMETERS_DOUBLE, {"Value": "x" * 140_000}, "FAILED", "States.DataLimitExceeded"),  # after Parameters
        (PARAMETERS_DOUBLE, {"Value": "x" * 120_000}, "SUCCEEDED", None),
        (MISSING_PATH_CAUGHT_BY_ALL, {"Value": "x", "Times": 1}, "FAILED", "States.Runtime"),  # not caught
    ],
    ids=["task result", "utf-8 bytes", "input after parameters", "within", "runtime error"],
)
def test_the_payload_limit_and_terminal_errors_fail_the_execution(definition, execution_input, status, error):
    with _stage("tests.local.test_engine.returns") as stage:
        described, history = stage.run(definition, execution_input)
    assert (described["status"], described.get("error")) == (status, error), described.get("cause")
    assert "Caught" not in [event.get("stateEnteredEventDetails", {}).get("name") for event in history]


def test_a_lambda_past_its_own_timeout_fails_the_task_with_sandbox_timedout_not_states_timeout():
    # AWS ends the invocation at the function's 60 s, before the task's 90 s: the task counts 60 s, not 100.
    definition = {"StartAt": "Call", "States": {"Call": _task(TimeoutSeconds=90, End=True)}}
    with _stage("tests.local.test_engine.sleeps_in_sdk_backoff", timeout=60) as stage:
        described, history = stage.run(definition, {"Sleep": 100})
    assert (described["status"], described["error"]) == ("FAILED", "Sandbox.Timedout")
    assert not _events(history, "TaskTimedOut")


def test_fast_item_size_matches_motos_own_formula():
    """Patch 16 computes moto's DynamoType.size formula on raw values: the same number for every type."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    attrs = {
        "ExecutionId": {"S": "exec-é"},
        "Page": {"N": "12.50"},
        "Open": {"BOOL": True},
        "Nothing": {"NULL": True},
        "Blob": {"B": b"\x00\x01\x02"},
        "Tags": {"SS": ["a", "bb"]},
        "Numbers": {"NS": ["1", "22"]},
        "Servers": {"L": [{"M": {"SourceServerId": {"S": "s-1"}, "LaunchTime": {"N": "1767225600"}}}, {"S": "x"}]},
        "Head": {"M": {"Nested": {"M": {"Deep": {"L": [{"N": "1"}]}}}}},
    }
    item = Item(DynamoType({"S": "exec-é"}), None, attrs)
    expected = sum(len(k.encode()) + DynamoType(v).size() for k, v in attrs.items())
    assert engine._fast_item_size(item) == expected


def test_parsed_conditions_are_cached_and_still_evaluated_per_item():
    """Patch 17: the same condition text is parsed once, and each item is still checked against it."""
    with mock_aws(), engine.virtual_engine(VirtualClock()):
        client = boto3.client("dynamodb", region_name="us-east-1")
        _hash_table(client, "locks")
        condition = {"ConditionExpression": "attribute_not_exists(k)"}
        client.put_item(TableName="locks", Item={"k": {"S": "a"}}, **condition)
        client.put_item(TableName="locks", Item={"k": {"S": "b"}}, **condition)
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(TableName="locks", Item={"k": {"S": "a"}}, **condition)


def test_dynamodb_answers_read_the_same_through_the_fast_serializer():
    """Patch 15: a client reads the same items with and without the JSON fast path."""
    item = {
        "k": {"S": "a"},
        "n": {"N": "1.5"},
        "b": {"BOOL": False},
        "z": {"NULL": True},
        "bin": {"B": b"\x01\x02"},
        "l": {"L": [{"M": {"x": {"S": "é"}}}, {"N": "7"}]},
        "ss": {"SS": ["p", "q"]},
    }

    def read() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        client = boto3.client("dynamodb", region_name="us-east-1")
        _hash_table(client, "t")
        client.put_item(TableName="t", Item=item)
        got = client.get_item(TableName="t", Key={"k": {"S": "a"}})["Item"]
        queried = client.query(
            TableName="t", KeyConditionExpression="k = :k", ExpressionAttributeValues={":k": {"S": "a"}}
        )["Items"]
        return got, queried

    with mock_aws():
        plain = read()
    with mock_aws(), engine.virtual_engine(VirtualClock()):
        fast = read()
    assert fast == plain
    assert fast[0]["bin"] == {"B": b"\x01\x02"}


def test_a_query_counts_only_the_items_its_key_condition_matches_toward_the_1_mb_page():
    """Patch 18: DynamoDB applies the sort-key condition first; moto sized the whole partition against the 1 MB page
    limit, so a few matching items behind 1.2 MB of others came back cut, with a LastEvaluatedKey."""
    filler = "x" * 300_000

    def query(client: Any, **extra: Any) -> dict[str, Any]:
        return client.query(
            TableName="waves",
            KeyConditionExpression="e = :e AND begins_with(w, :w)",
            ExpressionAttributeValues={":e": {"S": "exec"}, ":w": {"S": "0003"}},
            **extra,
        )

    with mock_aws(), engine.virtual_engine(VirtualClock()):
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="waves",
            KeySchema=[{"AttributeName": "e", "KeyType": "HASH"}, {"AttributeName": "w", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "e", "AttributeType": "S"},
                {"AttributeName": "w", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for wave in ("0001", "0002"):
            for page in ("", "#001", "#002"):  # 6 items of 300 KB before the wave asked for
                client.put_item(
                    TableName="waves", Item={"e": {"S": "exec"}, "w": {"S": wave + page}, "f": {"S": filler}}
                )
        for key in ("0003", "0003#001", "0004"):
            client.put_item(TableName="waves", Item={"e": {"S": "exec"}, "w": {"S": key}, "f": {"S": "small"}})
        client.put_item(TableName="waves", Item={"e": {"S": "other"}, "w": {"S": "0003"}, "f": {"S": "small"}})
        answer = query(client)
        assert [item["w"]["S"] for item in answer["Items"]] == ["0003", "0003#001"]
        assert "LastEvaluatedKey" not in answer
        backwards = query(client, ScanIndexForward=False, Limit=1)
        assert [item["w"]["S"] for item in backwards["Items"]] == ["0003#001"]
        rest = query(client, ScanIndexForward=False, ExclusiveStartKey=backwards["LastEvaluatedKey"])
        assert [item["w"]["S"] for item in rest["Items"]] == ["0003"]
        whole = client.query(
            TableName="waves", KeyConditionExpression="e = :e", ExpressionAttributeValues={":e": {"S": "exec"}}
        )
        assert len(whole["Items"]) == 3 and "LastEvaluatedKey" in whole  # no sort-key condition: 1 MB as before


def test_update_item_answers_the_same_with_and_without_return_values():
    """Patch 19: with ReturnValues NONE nothing is rendered; every other ReturnValues still answers as moto does."""
    with mock_aws(), engine.virtual_engine(VirtualClock()):
        client = boto3.client("dynamodb", region_name="us-east-1")
        _hash_table(client, "t")
        client.put_item(TableName="t", Item={"k": {"S": "a"}, "n": {"N": "1"}, "s": {"S": "x"}})

        def update(value: str, **extra: Any) -> dict[str, Any]:
            return client.update_item(
                TableName="t",
                Key={"k": {"S": "a"}},
                UpdateExpression="SET n = :n",
                ExpressionAttributeValues={":n": {"N": value}},
                **extra,
            )

        assert "Attributes" not in update("2")
        assert update("3", ReturnValues="ALL_OLD")["Attributes"] == {"k": {"S": "a"}, "n": {"N": "2"}, "s": {"S": "x"}}
        assert update("4", ReturnValues="UPDATED_OLD")["Attributes"] == {"n": {"N": "3"}}
        assert update("5", ReturnValues="ALL_NEW")["Attributes"]["n"] == {"N": "5"}
        assert update("6", ReturnValues="UPDATED_NEW")["Attributes"] == {"n": {"N": "6"}}
        assert client.get_item(TableName="t", Key={"k": {"S": "a"}})["Item"]["n"] == {"N": "6"}
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            update("7", ConditionExpression="n = :n")  # 6 != 7: refused, and the item is as it was
        assert client.get_item(TableName="t", Key={"k": {"S": "a"}})["Item"]["n"] == {"N": "6"}


def _hash_table(client: Any, name: str) -> None:
    """A table keyed by the string `k` alone."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_the_callback_internals_patch_20_uses_are_as_we_read_them():
    # Patch 20: a stop interrupts the execution's callback endpoints; moto waits on them until the task's timeout.
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, CallbackPoolManager

    assert _parameters(Environment.set_stop) == ["self", "stop_date", "cause", "error"]
    assert "self._pool = OrderedDict()" in inspect.getsource(CallbackPoolManager.__init__)
    assert _parameters(CallbackEndpoint.interrupt_all) == ["self"]
    assert "callback_endpoint.wait(" in inspect.getsource(state_task_service_callback)


def _random_draws(made_before: Any) -> dict[str, Any]:
    """One draw of every random source a rehearsal meets, each made as its user makes it (patch 7)."""
    from botocore import retryhandler
    from botocore.retries import standard
    from moto.moto_api._internal import mock_random
    from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl
    from moto.stepfunctions.parser.utils import long_uid

    context = standard.RetryContext(attempt_number=3)
    return {
        # a handler's client, made before the rehearsal began (the handlers keep theirs), and one made during it
        "sdk backoff, client made before": [made_before.delay_amount(context) for _ in range(3)],
        "sdk backoff, client made now": standard.ExponentialBackoff().delay_amount(context),
        "sdk legacy backoff": retryhandler.delay_exponential("rand", 2, 3),
        "Retry jitter": jitter_strategy_decl.random.uniform(0, 100),
        "moto IDs": str(mock_random.uuid4()),
        "engine UUIDs (task tokens)": long_uid(),
    }


def test_every_random_draw_in_the_engine_comes_from_the_seed():
    from botocore.retries import standard
    from moto.moto_api._internal import mock_random

    made_before = standard.ExponentialBackoff()
    moto_state = mock_random.getstate()

    def draws(seed: int) -> dict[str, Any]:
        with engine.virtual_engine(VirtualClock(), seed=seed) as stats:
            return {**_random_draws(made_before), "our IDs": [stats.new_id(), stats.new_id()]}

    first = draws(7)
    assert draws(7) == first  # a replay draws the same
    other = draws(8)
    assert all(other[source] != first[source] for source in first), other  # and each source follows the seed
    assert mock_random.getstate() == moto_state  # moto's generator is put back as it was
    # Outside the engine (a deployed Lambda), botocore draws from the system's generator again.
    assert _random_draws(made_before)["sdk backoff, client made before"] != first["sdk backoff, client made before"]


# --- 21: a Map iteration's States.* error reaches the Map --------------------------------------------------------


def test_motos_map_still_wraps_an_iterations_error_as_a_custom_name_which_refuses_states_names():
    """Tripwire for patch 21: if moto stops wrapping (or its CustomErrorName accepts States. names), drop the patch."""
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker

    assert "error_name = CustomErrorName(error_name=error_name)" in inspect.getsource(
        iteration_worker.IterationWorker._eval_job
    )
    with pytest.raises(ValueError, match=r"MUST NOT begin with the prefix 'States\.'"):
        CustomErrorName("States.DataLimitExceeded")


def _wave_loop(map_catch: list[dict[str, Any]], task_catch: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Map of one iteration whose task returns `Value * Times`, its result kept out of the state."""
    call = _task(Parameters={"FunctionName": "${Fn}", "Payload.$": "$"}, ResultPath=None, Next="Done")
    call.pop("ResultSelector")
    if task_catch is not None:
        call["Catch"] = task_catch
    return {
        "StartAt": "Loop",
        "States": {
            "Loop": {
                "Type": "Map",
                "ItemsPath": "$.Items",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Call",
                    "States": {"Call": call, "Done": {"Type": "Pass", "End": True}},
                },
                "ResultPath": None,
                "Catch": map_catch,
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }


def _caught_error(history: list[dict[str, Any]]) -> str:
    """The error the Map's Catch passed to "Caught" (at `$.Error`)."""
    entered = _events(history, "PassStateEntered")[-1]["stateEnteredEventDetails"]
    assert entered["name"] == "Caught"
    return str(json.loads(entered["input"])["Error"]["Error"])


ALL = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.Error", "Next": "Caught"}
BY_NAME = {"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": "$.Error", "Next": "Caught"}
TASK_BY_NAME = {"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": None, "Next": "Done"}
OVER = {"Items": [{"Value": "x", "Times": 270_000}]}  # a 270 KB result: over 262,144 bytes


@pytest.mark.parametrize(
    ("definition", "status", "error", "caught"),
    [
        (_wave_loop([ALL]), "FAILED", "States.DataLimitExceeded", False),  # AWS: States.ALL does not match it
        (_wave_loop([BY_NAME, ALL]), "SUCCEEDED", None, True),  # named, it is caught
        (_wave_loop([ALL], [TASK_BY_NAME]), "SUCCEEDED", None, False),  # the task's own Catch names it: it goes on
    ],
    ids=["not caught by States.ALL", "caught by name on the Map", "caught by name on the task"],
)
def test_a_result_over_256_kib_in_a_map_fails_with_states_data_limit_exceeded(definition, status, error, caught):
    with _stage("tests.local.test_engine.returns") as stage:
        described, history = stage.run(definition, OVER)
    assert (described["status"], described.get("error")) == (status, error), described.get("cause")
    assert "Custom Error Names" not in json.dumps(history, default=str)  # moto's own message never shows
    entered = [event.get("stateEnteredEventDetails", {}).get("name") for event in history]
    assert ("Caught" in entered) is caught
    if caught:
        assert _caught_error(history) == "States.DataLimitExceeded"
    failed = _events(history, "TaskFailed")
    assert [event["taskFailedEventDetails"]["error"] for event in failed] == ["States.DataLimitExceeded"]


def test_an_iterations_states_timeout_is_caught_on_the_map_by_states_all():
    call = _task(TimeoutSeconds=10, ResultPath=None, End=True)
    definition = _wave_loop([ALL])
    definition["States"]["Loop"]["ItemProcessor"]["States"] = {"Call": call}
    with _stage("tests.local.test_engine.sleeps_in_sdk_backoff", timeout=60) as stage:
        described, history = stage.run(definition, {"Items": [{"Sleep": 30}]})
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert _caught_error(history) == "States.Timeout"


# --- 22: GetExecutionHistory's order and pages ---------------------------------------------------------------------


def test_motos_history_answer_still_ignores_order_and_pages():
    """Tripwire for patch 22: if moto starts honouring reverseOrder or maxResults, drop the patch."""
    from moto.stepfunctions.responses import StepFunctionResponse

    source = inspect.getsource(StepFunctionResponse.get_execution_history)
    assert "reverseOrder" not in source and "maxResults" not in source and "nextToken" not in source


def test_the_history_is_read_newest_first_in_pages_as_aws_answers():
    with _stage("tests.local.test_engine.echo_handler") as stage:
        arn = stage.start(WAIT_AN_HOUR)
        stage.finish(arn)
        oldest_first = stage.sfn.get_execution_history(executionArn=arn)["events"]
        assert [e["id"] for e in oldest_first] == sorted(e["id"] for e in oldest_first) and len(oldest_first) > 6
        first = stage.sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=4)
        assert [e["id"] for e in first["events"]] == [e["id"] for e in oldest_first[::-1][:4]]
        rest = stage.sfn.get_execution_history(
            executionArn=arn, reverseOrder=True, maxResults=4, nextToken=first["nextToken"]
        )
        assert [e["id"] for e in rest["events"]] == [e["id"] for e in oldest_first[::-1][4:8]]
        paginator = stage.sfn.get_paginator("get_execution_history")
        pages = list(paginator.paginate(executionArn=arn, reverseOrder=True, PaginationConfig={"PageSize": 3}))
        assert len(pages) == -(-len(oldest_first) // 3)
        assert [e for page in pages for e in page["events"]] == oldest_first[::-1]
        bare = stage.sfn.get_execution_history(executionArn=arn, includeExecutionData=False)["events"]
        succeeded = _events(bare, "TaskSucceeded")[0]["taskSucceededEventDetails"]
        assert "output" not in succeeded and succeeded["resourceType"] == "lambda"
        assert "output" in _events(oldest_first, "TaskSucceeded")[0]["taskSucceededEventDetails"]


# --- 23: faults of the Step Functions calls a function makes -------------------------------------------------------


def reads_its_own_history(event, context):
    """One GetExecutionHistory of its own execution, one attempt: what it got, or the error."""
    sfn = boto3.client("stepfunctions", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))
    try:
        page = sfn.get_execution_history(executionArn=event["Arn"], maxResults=100)
    except ClientError as error:
        return {"error": error.response["Error"]["Code"]}
    return {"events": len(page["events"]), "more": "nextToken" in page}


READ_HISTORY = {
    "StartAt": "Read",
    "States": {
        "Read": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${Fn}", "Payload": {"Arn.$": "$$.Execution.Id"}},
            "OutputPath": "$.Payload",
            "End": True,
        }
    },
}


def test_step_functions_faults_reach_the_calls_a_function_makes_and_never_the_rehearsals_own():
    with _stage("tests.local.test_engine.reads_its_own_history") as stage:
        throttled = engine.StepFunctionsFault("GetExecutionHistory", "ThrottlingException")
        stage.stats.faults = engine.EngineFaults(stepfunctions=[throttled], history_page_max=2)
        described, history = stage.run(READ_HISTORY)
        assert json.loads(described["output"]) == {"error": "ThrottlingException"}
        assert throttled.count == 0 and len(history) > 2  # the test's own read: whole, not throttled
        described, _ = stage.run(READ_HISTORY)  # the fault spent: a page shorter than the 100 asked, and more
        assert json.loads(described["output"]) == {"events": 2, "more": True}


# -- 24: AssumeRole refused as AWS refuses it; temporary keys in the role's account ------------------------------


def test_the_sts_internals_patch_24_uses_are_as_we_read_them():
    from moto.iam.models import iam_backends
    from moto.sts.models import STSBackend

    parameters = list(inspect.signature(STSBackend.assume_role).parameters)
    assert parameters == ["self", "region_name", "role_session_name", "role_arn", "policy", "duration", "external_id"]
    with mock_aws():
        answer = boto3.client("sts", region_name="us-east-1").assume_role(
            RoleArn="arn:aws:iam::444455556666:role/drs-orchestrator-member", RoleSessionName="test"
        )
        key = answer["Credentials"]["AccessKeyId"]
        # moto creates AssumeRole's temporary key in the role's account: how the emulator tells the account
        assert key in iam_backends["444455556666"]["aws"].access_keys
        assert engine.account_of_access_key(key) == "444455556666"
        assert engine.account_of_access_key("not-a-key-moto-issued") is None


def test_assume_role_is_refused_into_accounts_the_estate_does_not_let_in_and_those_a_fault_names():
    stats = engine.EngineStats(assumable=lambda account: account != "777788889999")
    role = "arn:aws:iam::{}:role/drs-orchestrator-member"
    with mock_aws(), engine.member_roles(stats):
        sts = boto3.client("sts", region_name="us-east-1")
        sts.assume_role(RoleArn=role.format("444455556666"), RoleSessionName="test", ExternalId="shared")
        with pytest.raises(ClientError) as refused:
            sts.assume_role(RoleArn=role.format("777788889999"), RoleSessionName="test")
        error = refused.value.response["Error"]
        assert error["Code"] == "AccessDenied"
        assert (
            f"is not authorized to perform: sts:AssumeRole on resource: {role.format('777788889999')}"
            in (error["Message"])
        )
        stats.faults = engine.EngineFaults(assume_role_denied=frozenset({"444455556666"}))  # mid-execution
        with pytest.raises(ClientError, match="AccessDenied"):
            sts.assume_role(RoleArn=role.format("444455556666"), RoleSessionName="test")
    assert [(arn.split(":")[4], external, refused) for arn, external, refused in stats.assumed_roles] == [
        ("444455556666", "shared", False),
        ("777788889999", None, True),
        ("444455556666", None, True),
    ]


def test_a_member_role_is_refused_to_an_iam_user_as_its_trust_names_only_the_functions():
    """The member role trusts the orchestrator's function roles only: a person's IAM user key (the sandbox's
    operator) is refused AssumeRole into it, while the functions' own credentials and other roles are not."""
    role = "arn:aws:iam::444455556666:role/drs-orchestrator-member"
    with mock_aws(), engine.member_roles(engine.EngineStats()):
        iam = boto3.client("iam", region_name="us-east-1")
        user = iam.create_user(UserName="operator")["User"]["Arn"]
        key = iam.create_access_key(UserName="operator")["AccessKey"]
        person = boto3.client(
            "sts",
            region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        with pytest.raises(ClientError) as refused:
            person.assume_role(RoleArn=role, RoleSessionName="laptop")
        error = refused.value.response["Error"]
        assert error["Code"] == "AccessDenied"
        assert error["Message"] == f"User: {user} is not authorized to perform: sts:AssumeRole on resource: {role}"
        person.assume_role(RoleArn="arn:aws:iam::444455556666:role/another-role", RoleSessionName="laptop")
        functions = boto3.client("sts", region_name="us-east-1")  # the rehearsal's own credentials: the functions'
        assert functions.assume_role(RoleArn=role, RoleSessionName="prepare")["Credentials"]["AccessKeyId"]


def test_the_parse_and_client_internals_patches_25_to_27_use_are_as_we_read_them():
    from botocore.loaders import Loader
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.backend import execution_worker
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    # 25: moto parses through the class's static method, for validation and for every execution, and returns
    # (program, tree); the Preprocessor builds the components from the tree, its scope stack a class attribute.
    assert "AmazonStateLanguageParser.parse(" in inspect.getsource(execution_worker.ExecutionWorker)
    assert "AmazonStateLanguageParser.parse(definition)" in inspect.getsource(StepFunctionsParserBackend)
    parse = inspect.getsource(AmazonStateLanguageParser.parse)
    assert "program = preprocessor.visit(tree)" in parse and "return program, tree" in parse
    assert isinstance(inspect.getattr_static(Preprocessor, "_query_language_per_scope"), list)
    # 26: the Lambda integration looks the client factory up as a module-level name, which ignores credentials.
    assert "boto_client_for(" in inspect.getsource(lambda_eval_utils)
    assert 'aws_access_key_id="ak"' in inspect.getsource(boto_client.boto_client_for)
    # 27: what a loader reads goes through load_data_with_path, cached per loader only (the tests' own session
    # already runs with the patch: tests/conftest.py), by every other read of the loader.
    source = inspect.getsource(Loader)
    assert "@instance_cache\n    def load_data_with_path(self, name):" in source
    assert "self.load_data_with_path(name)" in source


def test_each_execution_gets_components_of_its_own_from_one_parse_of_its_definition():
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    calls: list[str] = []

    def counted(definition: str) -> tuple[Any, Any]:
        calls.append(definition)
        return AmazonStateLanguageParser.parse(definition)

    parse = engine._kept_parse_trees(counted)
    definition = json.dumps(WAIT_AN_HOUR)
    first, first_tree = parse(definition)
    second, second_tree = parse(definition)
    assert calls == [definition]  # parsed once
    assert first_tree is second_tree and first is not second  # the tree shared, the components new
    assert first.start_at.start_at_name == second.start_at.start_at_name == "Wait an hour"
    for _ in range(2):  # a definition that does not parse is refused every time
        with pytest.raises(ASLParserException):
            parse('{"StartAt": "Nowhere", "States": {')
    assert len(calls) == 3


def test_rehearsals_read_the_same_with_parse_trees_kept_across_them_and_task_clients_within_one():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    definition = json.dumps(WAIT_AN_HOUR)
    clients = []
    for _ in range(2):
        with _stage("tests.local.test_engine.echo_handler") as stage:
            start = stage.clock.now()
            described, _ = stage.run(WAIT_AN_HOUR)
            assert described["status"] == "SUCCEEDED"
            entered = json.loads(described["output"])["Echo"]["now"]
            assert datetime.fromisoformat(entered).timestamp() == pytest.approx(start + 3600, abs=1)
            client = lambda_eval_utils.boto_client_for("us-east-1", "lambda")
            assert lambda_eval_utils.boto_client_for("us-east-1", "lambda") is client  # kept in the rehearsal
            clients.append(client)
    assert clients[0] is not clients[1]  # each rehearsal's its own
    assert engine._PARSE_ONCE(definition)[1] is engine._PARSE_ONCE(definition)[1]


def test_a_handler_on_each_rehearsals_sdk_session_sees_that_rehearsals_task_invocations():
    """A client copies its session's event handlers when it is made: a Task client kept from an earlier rehearsal
    would carry that rehearsal's handlers into this one and miss this one's."""
    seen: list[list[str]] = []
    for _ in range(2):
        calls: list[str] = []
        with _stage("tests.local.test_engine.echo_handler") as stage:
            boto3._get_default_session().events.register(
                "before-call.lambda.Invoke", lambda model, calls=calls, **_: calls.append(model.name)
            )
            described, _ = stage.run(WAIT_AN_HOUR)
            assert described["status"] == "SUCCEEDED"
        seen.append(calls)
    assert seen == [["Invoke"], ["Invoke"]]


def test_loaders_share_what_they_read_per_search_path_and_name():
    from botocore.exceptions import DataNotFoundError
    from botocore.loaders import Loader

    read: list[str] = []

    def original(loader: Loader, name: str) -> tuple[Any, str]:
        read.append(name)
        return Loader.load_data_with_path(loader, name)

    shared = engine._shared_loaded_data(original)
    one, two = Loader(), Loader()
    assert shared(one, "endpoints") is shared(two, "endpoints")
    assert read == ["endpoints"]
    elsewhere = Loader(extra_search_paths=[str(Path(__file__).parent)])
    shared(elsewhere, "endpoints")  # other search paths: read again (they may find another file)
    assert read == ["endpoints", "endpoints"]
    for _ in range(2):
        with pytest.raises(DataNotFoundError):
            shared(one, "no-such-data")
    assert read.count("no-such-data") == 2
