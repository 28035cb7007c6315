"""Every patch we apply to moto, in one place (docs/rehearsal.md). moto 5.2.5 is pinned for them.

moto's Step Functions interpreter (a port of LocalStack's) runs our ASL unmodified. These patches make it a
rehearsal engine:

1. Lambda tasks would need Docker; `LambdaFunction._invoke_lambda` is replaced so the real handler runs in-process,
   with the error shape AWS Lambda uses (`errorType` = exception class name), so Retry and Catch match as in AWS.
2. Every wait (Wait states, Retry backoff, and the AWS SDK's own retry backoff inside a Lambda, which botocore
   sleeps in `botocore.endpoint`) advances the shared virtual clock instead of sleeping, and every time
   the interpreter reads (event timestamps, `$$.State.EnteredTime`, execution start and stop) comes from that clock.
   The DRS emulator reads the same clock, so a 30-minute drill rehearses in about a second.
3. Invocations are measured (wall time, payload sizes) for the rehearsal's figures.
4. Stopping an execution while a Map with a Catch is running makes moto trip over the aborted iteration's event
   (an AttributeError in `StateMap._eval_state`, failing the execution with States.Runtime); Step Functions simply
   aborts. When the execution is no longer running, that error is swallowed so the execution ends ABORTED.
5. moto's TransactWriteItems backs up a table once per item in the transaction (100 deep copies of the whole table
   for a 100-item transaction); the copy is made once per table, as the code means to. Same rollback, no waste: a
   2,000-server plan's locks took 39 s of a Lambda's wall time before.
6. moto parses every JSONPath anew each time a state reads one (a ply parser built per call, about 1.5 ms); the
   parsed paths are cached, which makes a large rehearsal several times faster and changes no result.
7. Retry jitter (`JitterStrategy: FULL`) draws from a generator seeded once per engine instead of the global one,
   so a rehearsal replays exactly, jitter included.
8. A Lambda's deployed timeout is enforced as AWS would: an invocation whose wall time plus the virtual time it slept
   (the SDK's retry backoff) passes the function's timeout ends as `Sandbox.Timedout`, whatever it did before. The
   context's `get_remaining_time_in_millis` counts down the same way, so handlers that budget their time see it.
9. Faults at the engine's boundaries (`EngineFaults`), never in the code under test: a Lambda invocation killed
   after its k-th AWS call or after it finished (`Sandbox.Timedout`, its effects kept, its answer lost) or never run
   (`Lambda.ServiceException`); a DynamoDB operation answered with throttling, a 500, or a transaction cancelled for
   `TransactionConflict`/`ThrottlingError` (moto never cancels for those), optionally after taking effect.

These are private internals of moto: `tests/local/test_engine.py` fails loudly if any of them moves.
"""

from __future__ import annotations

import copy
import datetime as datetime_module
import functools
import importlib
import json
import random
import threading
import time
import traceback
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from unittest.mock import patch

from botocore import endpoint as botocore_endpoint
from botocore.client import BaseClient
from moto.awslambda.models import LambdaFunction
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl, retrier_decl
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.event import event_manager
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend import execution as execution_module

from drsctl.clock import VirtualClock

# Modules whose `datetime.datetime.now()` must read the virtual clock.
_DATETIME_USERS = (state_module, execution_module, parser_models, event_manager)


@dataclass
class Invocation:
    function: str
    seconds: float
    request_bytes: int
    response_bytes: int
    error: str | None


@dataclass
class LambdaContext:
    """The attributes of AWS Lambda's context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    timeout_seconds: int = 60
    elapsed: Callable[[], float] = lambda: 0.0  # wall + virtual seconds since the invocation began

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - self.elapsed()) * 1000))


Listener = Callable[[Invocation, dict[str, Any], Any], None]


@dataclass
class LambdaFault:
    """The `nth` invocation (1-based) of a function whose name ends with `function` fails.

    kind: "timeout_after_calls": killed when it makes its `calls`-th AWS call (the call is not made), as a Lambda
    timeout would cut it mid-way; "timeout_after": it runs to the end, then its answer is replaced by
    Sandbox.Timedout (effects kept, answer lost); "service_error": never runs (Lambda.ServiceException).
    """

    function: str
    nth: int = 1
    kind: str = "timeout_after"
    calls: int = 1


@dataclass
class DynamoDbFault:
    """The next `count` calls of a DynamoDB operation (`*` = any) answer `error`.

    error: ProvisionedThroughputExceededException, ThrottlingException, InternalServerError, or a transaction
    cancellation reason, TransactionConflict or ThrottlingError (TransactWriteItems only). `after_effect`: the call
    takes effect first, then the error is answered (an ambiguous outcome, as when an answer is lost).
    """

    operation: str
    error: str
    count: int = 1
    after_effect: bool = False


@dataclass
class EngineFaults:
    lambdas: list[LambdaFault] = field(default_factory=list)
    dynamodb: list[DynamoDbFault] = field(default_factory=list)
    invocations_by_function: dict[str, int] = field(default_factory=dict)


@dataclass
class EngineStats:
    invocations: list[Invocation] = field(default_factory=list)
    # Called on the execution's thread after each invocation with (invocation, request, response): how the
    # rehearsal shows progress without reading moto's tables from another thread.
    listeners: list[Listener] = field(default_factory=list)
    faults: EngineFaults = field(default_factory=EngineFaults)
    # Called before each invocation runs, with (function name, request): a test stops an execution "during" a step.
    before_invoke: list[Callable[[str, dict[str, Any]], None]] = field(default_factory=list)
    # Called inside a handler before each AWS call it makes, with (function name, operation name): a test stops an
    # execution between two calls of one step (between chunks of a wave).
    on_aws_call: list[Callable[[str, str], None]] = field(default_factory=list)
    # Virtual seconds the longest invocation slept (SDK backoff), added to its wall time for its deployed timeout.
    max_virtual_seconds: float = 0.0


class LambdaKilled(BaseException):
    """Raised inside a handler to cut it short, as a Lambda timeout does (BaseException: no `except Exception`
    in the code under test may swallow it)."""


_inside_handler = threading.local()
JITTER_SEED = 20260101


def _virtual_datetime_module(clock: VirtualClock) -> types.ModuleType:
    """A stand-in for the `datetime` module whose `datetime.now()` reads `clock`."""

    class VirtualDatetime(datetime_module.datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> VirtualDatetime:
            moment = cls.fromtimestamp(clock.now(), tz=UTC)
            return moment.astimezone(tz) if tz else moment.replace(tzinfo=None)

    shim = types.ModuleType("datetime")
    shim.__dict__.update(
        {name: getattr(datetime_module, name) for name in dir(datetime_module) if not name.startswith("__")}
    )
    shim.datetime = VirtualDatetime  # type: ignore[attr-defined]
    return shim


def _virtual_time_module(clock: VirtualClock) -> types.ModuleType:
    """A stand-in for the `time` module whose `sleep` advances `clock` (Retry backoff)."""
    shim = types.ModuleType("time")
    shim.__dict__.update({name: getattr(time, name) for name in dir(time) if not name.startswith("__")})
    shim.sleep = clock.advance  # type: ignore[attr-defined]
    return shim


def _lambda_error(error_type: str, message: str, trace: list[str] | None = None) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": trace or []})


def _take_lambda_fault(faults: EngineFaults, function_name: str) -> LambdaFault | None:
    count = faults.invocations_by_function.get(function_name, 0) + 1
    faults.invocations_by_function[function_name] = count
    for fault in faults.lambdas:
        if function_name.endswith(fault.function) and fault.nth == count:
            return fault
    return None


def _in_process_invoke(stats: EngineStats, clock: VirtualClock) -> Callable[..., tuple[str, bool, str]]:
    def invoke(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, str | bytes) else (event or {})
        module_name, _, attribute = str(function.handler).rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
        timeout = int(function.timeout or 60)
        wall_started, virtual_started = time.perf_counter(), clock.now()

        def elapsed() -> float:
            return (time.perf_counter() - wall_started) + (clock.now() - virtual_started)

        context = LambdaContext(
            function_name=function.function_name,
            function_version=str(function.version),
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size or 128),
            timeout_seconds=timeout,
            elapsed=elapsed,
        )
        request = json.dumps(payload)
        for hook in stats.before_invoke:
            hook(function.function_name, payload)
        fault = _take_lambda_fault(stats.faults, function.function_name)
        response: Any = None
        error: str | None = None
        if fault is not None and fault.kind == "service_error":
            result, error = (
                _lambda_error("Lambda.ServiceException", "injected: the invocation never ran"),
                "Lambda.ServiceException",
            )
        else:
            _inside_handler.calls_left = (
                fault.calls if fault is not None and fault.kind == "timeout_after_calls" else None
            )
            _inside_handler.function = function.function_name
            _inside_handler.hooks = stats.on_aws_call
            try:
                response = handler(payload, context)
                result = json.dumps(response)
            except LambdaKilled:
                result, error = _lambda_error("Sandbox.Timedout", "Task timed out (injected)"), "Sandbox.Timedout"
            except Exception as raised:  # noqa: BLE001 - becomes the Lambda error payload, as in AWS
                result = _lambda_error(type(raised).__name__, str(raised), traceback.format_tb(raised.__traceback__))
                error = type(raised).__name__
            finally:
                _inside_handler.calls_left = None
                _inside_handler.function = None
            took = elapsed()
            stats.max_virtual_seconds = max(stats.max_virtual_seconds, took)
            if error is None and ((fault is not None and fault.kind == "timeout_after") or took > timeout):
                # AWS ends an invocation at its timeout: whatever the handler did stays done, its answer is lost.
                reason = "injected" if took <= timeout else f"{took:.1f} s of wall plus slept time, timeout {timeout} s"
                result, error = _lambda_error("Sandbox.Timedout", f"Task timed out ({reason})"), "Sandbox.Timedout"
        seconds = time.perf_counter() - wall_started
        invocation = Invocation(function.function_name, seconds, len(request), len(result), error)
        stats.invocations.append(invocation)
        for listener in stats.listeners:
            listener(invocation, payload, response if error is None else None)
        return result, error is not None, ""

    return invoke


def _counting_api_call(original: Callable[..., Any]) -> Callable[..., Any]:
    """Cut a handler short at its k-th AWS call (a LambdaFault of kind timeout_after_calls)."""

    def make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        function = getattr(_inside_handler, "function", None)
        if function is None:  # not a handler's own call (or a hook's, made while the handler waits)
            return original(self, operation_name, api_params)
        _inside_handler.function = None
        try:
            for hook in getattr(_inside_handler, "hooks", []):
                hook(function, operation_name)
        finally:
            _inside_handler.function = function
        left = getattr(_inside_handler, "calls_left", None)
        if left is not None:
            if left <= 1:
                raise LambdaKilled(f"killed before {operation_name}")
            _inside_handler.calls_left = left - 1
        return original(self, operation_name, api_params)

    return make_api_call


_DYNAMODB_ERROR_STATUS = {"InternalServerError": 500}
CANCELLATION_REASONS = ("TransactionConflict", "ThrottlingError")


def _faulty_dynamodb(original: Callable[..., Any], faults: EngineFaults) -> Callable[..., Any]:
    def call_action(self: DynamoHandler) -> Any:
        action = self._get_action()
        fault = next((f for f in faults.dynamodb if f.count > 0 and f.operation in ("*", action)), None)
        if fault is None or (fault.error in CANCELLATION_REASONS and action != "TransactWriteItems"):
            return original(self)
        fault.count -= 1
        if fault.after_effect:
            original(self)
        if fault.error in CANCELLATION_REASONS:
            items = (getattr(self, "params", None) or {}).get("TransactItems") or [{}]
            reasons = [{"Code": fault.error, "Message": f"injected {fault.error}"} for _ in items]
            body = {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons "
                f"[{fault.error}]",
                "CancellationReasons": reasons,
            }
            error_type = "TransactionCanceledException"
        else:
            body = {"__type": f"com.amazonaws.dynamodb.v20120810#{fault.error}", "message": f"injected {fault.error}"}
            error_type = fault.error
        status = _DYNAMODB_ERROR_STATUS.get(fault.error, 400)
        return status, {"status": status, "x-amzn-ErrorType": error_type}, json.dumps(body)

    return call_action


@contextmanager
def virtual_engine(clock: VirtualClock) -> Iterator[EngineStats]:
    """Apply every patch for the duration of the block; moto is restored afterwards."""
    stats = EngineStats()

    def wait_on_clock(self: WaitFunction, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0 and env.is_running():
            clock.advance(wait_seconds)

    original_map_eval_state = StateMap._eval_state

    def map_eval_state_abortable(self: StateMap, env: Any) -> None:
        try:
            original_map_eval_state(self, env)
        except AttributeError:
            if env.is_running():
                raise

    original_transact = DynamoDBBackend.transact_write_items

    def transact_with_one_backup_per_table(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        backups: dict[int, Any] = {}

        def deepcopy_once(value: Any) -> Any:
            if id(value) not in backups:
                backups[id(value)] = copy.deepcopy(value)
            return backups[id(value)]

        with patch.object(dynamodb_models, "copy", types.SimpleNamespace(deepcopy=deepcopy_once)):
            original_transact(self, transact_items)

    def event_timestamp() -> datetime:
        return datetime.fromtimestamp(clock.now(), tz=UTC)

    with ExitStack() as stack:
        stack.enter_context(patch.object(LambdaFunction, "_invoke_lambda", _in_process_invoke(stats, clock)))
        stack.enter_context(patch.object(BaseClient, "_make_api_call", _counting_api_call(BaseClient._make_api_call)))
        stack.enter_context(
            patch.object(DynamoHandler, "call_action", _faulty_dynamodb(DynamoHandler.call_action, stats.faults))
        )
        stack.enter_context(patch.object(WaitFunction, "_wait_interval", wait_on_clock))
        stack.enter_context(patch.object(StateMap, "_eval_state", map_eval_state_abortable))
        stack.enter_context(patch.object(DynamoDBBackend, "transact_write_items", transact_with_one_backup_per_table))
        stack.enter_context(patch.object(retrier_decl, "time", _virtual_time_module(clock)))
        stack.enter_context(patch.object(jitter_strategy_decl, "random", random.Random(JITTER_SEED)))
        stack.enter_context(patch.object(botocore_endpoint, "time", _virtual_time_module(clock)))
        stack.enter_context(
            patch.object(event_manager.EventManager, "_get_current_timestamp", staticmethod(event_timestamp))
        )
        for module in (json_path, result_path):
            stack.enter_context(patch.object(module, "parse", functools.lru_cache(maxsize=1024)(module.parse)))
        shim = _virtual_datetime_module(clock)
        for module in _DATETIME_USERS:
            stack.enter_context(patch.object(module, "datetime", shim))
        yield stats
