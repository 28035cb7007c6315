"""Every patch we apply to moto, in one place (DESIGN.md section 4). moto 5.2.5 is pinned for them.

moto's Step Functions interpreter (a port of LocalStack's) runs our ASL unmodified. Three things make it a
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

These are private internals of moto: `tests/local/test_engine.py` fails loudly if any of them moves.
"""

from __future__ import annotations

import copy
import datetime as datetime_module
import functools
import importlib
import json
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
from moto.awslambda.models import LambdaFunction
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
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

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


Listener = Callable[[Invocation, dict[str, Any], Any], None]


@dataclass
class EngineStats:
    invocations: list[Invocation] = field(default_factory=list)
    # Called on the execution's thread after each invocation with (invocation, request, response): how the
    # rehearsal shows progress without reading moto's tables from another thread.
    listeners: list[Listener] = field(default_factory=list)


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


def _in_process_invoke(stats: EngineStats) -> Callable[..., tuple[str, bool, str]]:
    def invoke(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, str | bytes) else (event or {})
        module_name, _, attribute = str(function.handler).rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
        context = LambdaContext(
            function_name=function.function_name,
            function_version=str(function.version),
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size or 128),
            timeout_seconds=int(function.timeout or 60),
        )
        request = json.dumps(payload)
        started = time.perf_counter()
        response: Any = None
        try:
            response = handler(payload, context)
            result = json.dumps(response)
            error = None
        except Exception as raised:  # noqa: BLE001 - becomes the Lambda error payload, as in AWS
            result = json.dumps(
                {
                    "errorType": type(raised).__name__,
                    "errorMessage": str(raised),
                    "stackTrace": traceback.format_tb(raised.__traceback__),
                }
            )
            error = type(raised).__name__
        seconds = time.perf_counter() - started
        invocation = Invocation(function.function_name, seconds, len(request), len(result), error)
        stats.invocations.append(invocation)
        for listener in stats.listeners:
            listener(invocation, payload, response)
        return result, error is not None, ""

    return invoke


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
        stack.enter_context(patch.object(LambdaFunction, "_invoke_lambda", _in_process_invoke(stats)))
        stack.enter_context(patch.object(WaitFunction, "_wait_interval", wait_on_clock))
        stack.enter_context(patch.object(StateMap, "_eval_state", map_eval_state_abortable))
        stack.enter_context(patch.object(DynamoDBBackend, "transact_write_items", transact_with_one_backup_per_table))
        stack.enter_context(patch.object(retrier_decl, "time", _virtual_time_module(clock)))
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
