"""Every patch we apply to moto, in one place (docs/rehearsal.md). moto 5.2.5 is pinned for them.

moto's Step Functions interpreter (a port of LocalStack's) runs our ASL unmodified. These patches make it a
rehearsal engine, and make it fail wherever AWS would:

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
5. moto's TransactWriteItems deep-copies a whole table for each item of the transaction, to roll back (100 copies
   of the table for a 100-item transaction: 12.8 s per transaction on a table of 5,000 items; 115 ms with one copy
   per table). Only the items the transaction touches are backed up instead, and restored (or removed, if they did
   not exist) when it fails: the same rollback, 23 ms (medians of 50 transactions of 100 puts). moto's
   `copy.deepcopy(self.tables[...])` is made to return the table itself during a transaction, so its own rollback
   (`self.tables[name] = backup`) changes nothing and ours decides.
6. moto parses every JSONPath anew each time a state reads one (a ply parser built per call, about 1.5 ms); the
   parsed paths are cached (for the process: every rehearsal reads the same paths), which makes a large rehearsal
   several times faster and changes no result.
7. Every random draw of a rehearsal comes from the scenario's seed, so the same plan, scenario and options give the
   same report however many faults the scenario injects (docs/rehearsal.md, "Replays"): Step Functions' Retry
   jitter (`JitterStrategy: FULL`, moto's `random.uniform`), the AWS SDK's retry jitter inside the handlers
   (botocore's standard mode draws `random.random()` for every retry's backoff, the legacy mode too), moto's own
   generator (`mock_random`: IDs; its state is put back afterwards), the engine's UUIDs (task tokens, state keys)
   and our own (a Lambda's request ID, an event's ID). Each source has its own generator (`seed:source`), so a
   draw in one does not shift the others. Only inside the engine: a deployed Lambda draws from the system.
8. A Lambda's deployed timeout is enforced as AWS would: an invocation whose wall time plus the virtual time it slept
   (the SDK's retry backoff) passes the function's timeout ends as `Sandbox.Timedout`, whatever it did before. The
   context's `get_remaining_time_in_millis` counts down the same way, so handlers that budget their time see it.
   Only the seconds slept on the invocation's own thread count (`_Account`): the clock is shared, and when two
   executions run at once another execution's Wait moves it while this invocation runs.
9. Faults at the engine's boundaries (`EngineFaults`), never in the code under test: a Lambda invocation killed
   after its k-th AWS call or after it finished (`Sandbox.Timedout`, its effects kept, its answer lost), hung until
   its function's timeout (`Sandbox.Timedout` after that many virtual seconds, as a call that never answers leaves
   it), lost with no answer (its task's `States.Timeout` at its TimeoutSeconds) or never run
   (`Lambda.ServiceException`); a DynamoDB operation answered with throttling, a 500, or a
   transaction cancelled for `TransactionConflict`/`ThrottlingError` (moto never cancels for those), optionally after
   taking effect. Faults are read from `EngineStats.faults` at each call, so a test may replace that object at any
   time.
10. DynamoDB's 400 KB item limit by DynamoDB's byte rules (`lambdas.core.item_size`): PutItem, BatchWriteItem puts
    (the whole batch refused, as AWS does, before any item is written), UpdateItem (the item as it is after the
    update, nested paths such as `SET Waves[3] = :w` included) and TransactWriteItems puts and updates (cancelled
    with a `ValidationError` reason). moto's own check (`LimitedSizeDict`) is switched off: it counts a number by
    its digits, lists and maps without their overhead and allows 405,000 bytes, so it refuses items DynamoDB takes
    and takes items DynamoDB refuses, and it never sees nested updates. An UpdateItem refused (or failed by moto
    after it changed or created the item) leaves the item as it was, from the copy moto makes first. The largest
    item written is recorded (`EngineStats.max_item_bytes`, `max_item_table`).
11. TransactWriteItems as AWS answers it: at most 100 actions and 4 MB of items (ValidationException), and
    `ClientRequestToken` honoured (moto ignores it): a transaction repeated with the same token within 10 minutes
    (virtual clock) of its success succeeds without applying again, as when the SDK retries one whose answer was
    lost; the same token with different parameters is refused with IdempotentParameterMismatchException.
12. An execution's `TimeoutSeconds` counts virtual time (moto waits for it on the wall clock): an execution whose
    virtual running time passes it ends TIMED_OUT (ExecutionTimedOut), moto's own timed-out end. A Wait or a Retry
    backoff that would pass the deadline ends the execution at the deadline, with the clock left there; time passed
    in other ways (a Lambda's SDK backoff, another execution's Wait) is caught when a state starts or ends.
    Nothing that fails after the deadline turns the end into FAILED (moto lets an error overwrite it).
    DescribeExecution gives a TIMED_OUT execution's stopDate, as AWS does (moto gives it only when SUCCEEDED,
    FAILED or ABORTED; the rehearsal's report and the reconcile event read it).
13. A Task's `TimeoutSeconds` counts the virtual time the task took (wall time plus the virtual seconds slept on its
    threads, as in 8; moto waits on the wall clock): a task that took longer fails with States.Timeout, moto's own
    task timeout, and never reports its success; what the task did stays done, so Retry and Catch on
    States.Timeout apply as in AWS. A Lambda past its own timeout counts as ended at it (AWS stops it there), so its
    Sandbox.Timedout comes first when the Task allows it more time.
14. The 256 KiB payload limit as Step Functions applies it: the compact JSON in UTF-8 (moto measures
    `json.dumps` with spaces and `\\u` escapes, and refuses exactly 262,144 bytes), checked on state outputs and task
    results (moto) and on a state's input after Parameters or ItemSelector (added). States.DataLimitExceeded is
    terminal: `States.ALL` does not catch or retry it, and nothing catches or retries States.Runtime, as AWS
    documents (moto's `States.ALL` matches both).

15. moto serializes every DynamoDB answer through its generic, model-driven response serializer (most of a large
    rehearsal's wall time: a Query of a 100-server wave page walks every attribute of every item). DynamoDB answers
    are plain JSON of what moto already built in DynamoDB's wire shape, so they are dumped as JSON directly; errors,
    and any answer that is not plain JSON, still go through moto's serializer. Same bytes to the client, less CPU.

16. moto sizes every item of a Query or Scan twice (for the 1 MB page limit) by building a new DynamoType object
    for every nested value; the same formula is computed on the raw values instead: the same numbers, several times
    faster (the second largest cost of a large rehearsal).

17. moto parses a condition expression anew for every item it checks (a transaction of 100 lock items: 100 parses
    of the same text); the parsed condition is cached by its text, names and values (a parsed condition holds no
    state of its own: it is evaluated against each item).

18. moto's Query sizes every item of the partition against the 1 MB page limit before it applies the sort-key
    condition, so reading one wave (`begins_with(WaveKey, "0003")`) of a 135-wave execution sized all 270 items of
    the execution, every check: quadratic in the number of waves. DynamoDB applies the key condition first and
    counts only the items it matched toward the 1 MB. A Query on a table's own key with a sort-key condition now
    starts from the partition's matching items (the same results, and pages as DynamoDB cuts them).

19. moto's UpdateItem handler deep-copies the item and renders it as JSON twice (before and after) to compute
    ReturnValues, even when none are asked for: on a 30 KB ExecutionHistory item, updated twice per wave, that was a
    tenth of a 135-wave rehearsal. With ReturnValues NONE (what our code asks), the "before" read is skipped and the
    updated item is not rendered: the same update, the same answer (no Attributes).

20. StopExecution ends an execution at once, as in AWS, even while a task waits for its task token (an approval,
    a hook's callback): moto waits for the token until the task's timeout on the wall clock (an hour for a default
    approval), so the execution stayed RUNNING and its record open. A stop now interrupts the execution's waiting
    callbacks, and nothing that fails after the stop (the interrupted wait) turns ABORTED into FAILED.

21. A Map iteration that fails with one of Step Functions' own errors (States.DataLimitExceeded, States.Timeout,
    States.Runtime, ...) fails the Map with that error, as in AWS. moto wraps the iteration's error name in a
    `CustomErrorName`, which refuses names that start with "States.", so the Map failed with moto's own
    `States.Runtime: ... Custom Error Names MUST NOT begin with the prefix 'States.'` instead: a state whose output
    passed 256 KiB inside the wave loop read as an engine bug, and a Catch naming States.DataLimitExceeded on the Map
    could never match it. (AWS: States.ALL does not catch States.DataLimitExceeded; naming it in ErrorEquals does.)

22. GetExecutionHistory as AWS answers it: `reverseOrder` (newest event first), pages of `maxResults` events (100 by
    default, at most 1,000) with a `nextToken`, and `includeExecutionData: false` leaving out the events' input and
    output. moto ignores all four and returns every event, oldest first: Next runbook step reads the last events of
    the execution (how a hook's output is recorded without entering the state's data, lambdas/core/step_end.py).

23. Faults at the Step Functions API our functions call (`EngineFaults.stepfunctions`, `history_page_max`): the next
    calls of an operation answered with an error (ThrottlingException, as AWS throttles GetExecutionHistory), and
    GetExecutionHistory pages holding fewer events than `maxResults` asked (AWS: "the actual number of results
    returned per call might be fewer than the specified maximum"). Only calls a function makes while it runs are
    faulted, never the rehearsal's own reads.
24. STS AssumeRole refuses a role as AWS does when it cannot be assumed (moto assumes any role ARN, existing or not):
    into an account the rehearsal's scenario does not know or marks `assumable: false`, or one a fault names
    (`EngineFaults.assume_role_denied`, read at each call), it answers AccessDenied with AWS's message (`... is not
    authorized to perform: sts:AssumeRole on resource: <role ARN>`). `EngineStats.assumable` says which accounts the
    estate lets the orchestrator into (the rehearsal sets it from its scenario). moto's HTTP status for an error its
    STS model does not declare is 400 (AWS answers 403); the code and message are what callers read.
    The member role trusts only the orchestrator's functions: AssumeRole signed with an IAM user's key (a person's:
    the sandbox's `sandbox-operator`, whose key `drsctl run ...` signs with) is refused the same way, as AWS refuses
    an operator the member role's trust policy does not name. `account_of_access_key` reads which account moto
    issued an access key in (AssumeRole's temporary keys are created in the role's account), so the DRS emulator
    answers a call made with member credentials in the member account.

25. moto parses the whole definition with ANTLR's pure-Python runtime for every CreateStateMachine (to validate it)
    and again for every execution it starts (about 0.3 s for ours: a third of a short rehearsal's time). The parse
    tree of each definition is kept (it is only read), and each execution still gets components of its own: moto's
    Preprocessor builds them anew from the tree, with a query-language stack of its own (moto's is one list shared
    by every Preprocessor in the process, which two executions starting at once would interleave). A definition
    that does not parse is parsed (and refused) again every time.
26. moto's Task states create a new boto3 client for every Lambda invocation (client creation is most of the cost
    of a short task). The client depends only on the Region and service (moto gives it fixed credentials and the
    same settings every time), so one client per Region and service is kept for the rehearsal (the engine's
    block): a client copies its SDK session's event handlers when it is made, and each rehearsal has a session of
    its own. Our own patches of `BaseClient` apply to it as to any other.

27. Every new boto3 session reads botocore's JSON data from disk again (the endpoints file, each service's model),
    and moto's mock starts a new default session for every rehearsal; the Lambdas' own sessions (a member account's
    credentials) are new sessions too. What a loader reads is kept per search path and name, for every loader in
    the process: the same files give the same data. botocore already shares one copy among a session's clients;
    what it writes into it (the endpoint resolver fills in a resolved endpoint's defaults, sdk-extras are merged
    into a model) it writes the same way every time, so a second session finds what it would have written.

These are private internals of moto: `tests/local/test_engine.py` fails loudly if any of them moves.
"""

from __future__ import annotations

import copy
import datetime as datetime_module
import functools
import importlib
import json
import os
import random
import re
import threading
import time
import traceback
import types
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from unittest.mock import patch

from botocore import endpoint as botocore_endpoint
from botocore import retryhandler as botocore_legacy_retries
from botocore.client import BaseClient
from botocore.loaders import Loader
from botocore.retries import standard as botocore_standard_retries
from moto.awslambda.models import LambdaFunction
from moto.core.exceptions import ServiceException
from moto.core.models import botocore_stubber
from moto.core.responses import ActionResult
from moto.dynamodb import comparisons
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.exceptions import (
    DynamodbException,
    ItemSizeTooLarge,
    ItemSizeToUpdateTooLarge,
    MockValidationException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.iam.models import iam_backends
from moto.moto_api._internal import mock_random
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser import quotas
from moto.stepfunctions.parser import utils as parser_utils
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.parargs import Parargs
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl, retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_selector import ItemSelector
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils, state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event import event_manager
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped, ProgramTimedOut
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend import execution as execution_module
from moto.stepfunctions.parser.utils import TMP_THREADS
from moto.stepfunctions.responses import StepFunctionResponse
from moto.sts.models import STSBackend
from moto.sts.responses import TokenResponse
from moto.utilities.utils import PARTITION_NAMES

from drsctl.clock import VirtualClock
from lambdas.core import accounts
from lambdas.core.item_size import ITEM_MAX_BYTES, typed_item_bytes
from lambdas.core.task_budget import TASK_SLACK_SECONDS

# Modules whose `datetime.datetime.now()` must read the virtual clock.
_DATETIME_USERS = (state_module, execution_module, parser_models, event_manager)
# Modules that imported moto's payload check by name (patch 14).
_QUOTA_USERS = (quotas, state_module, state_task_lambda, state_task_service)

TRANSACTION_MAX_ACTIONS = 100
TRANSACTION_MAX_BYTES = 4 * 1024 * 1024
IDEMPOTENCY_WINDOW_SECONDS = 600  # a ClientRequestToken is remembered for 10 minutes after its request completed
PAYLOAD_MAX_BYTES = 256 * 1024  # a state's input or output, a task's result: UTF-8 bytes
# AWS: "States.ALL ... can't catch the States.DataLimitExceeded terminal error type and runtime error types";
# "A States.Runtime error isn't retriable, and will always cause the execution to fail."
_NOT_MATCHED_BY_ALL = ("States.DataLimitExceeded", "States.Runtime")
_NEVER_MATCHED = ("States.Runtime",)
_TASK_SUCCEEDED = (HistoryEventType.TaskSucceeded, HistoryEventType.LambdaFunctionSucceeded)


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
    aws_request_id: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""
    timeout_seconds: int = 60
    elapsed: Callable[[], float] = lambda: 0.0  # wall + virtual seconds slept since the invocation began

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - self.elapsed()) * 1000))


Listener = Callable[[Invocation, dict[str, Any], Any], None]


@dataclass
class LambdaFault:
    """The `nth` invocation (1-based) of a function whose name ends with `function` fails.

    kind: "timeout_after_calls": killed when it makes its `calls`-th AWS call (the call is not made), as a Lambda
    timeout would cut it mid-way; "timeout_after": it runs to the end, then its answer is replaced by
    Sandbox.Timedout (effects kept, answer lost); "hang": it does nothing until its function's timeout (that many
    virtual seconds, counted for its task too), then Sandbox.Timedout, as an AWS call that never answers leaves it;
    "no_answer": the invocation is lost, its function never runs, and its task hears nothing until its TimeoutSeconds
    (the function's timeout + TASK_SLACK_SECONDS, as every Task of the definition allows), then States.Timeout;
    "service_error": never runs (Lambda.ServiceException).
    """

    function: str
    nth: int = 1
    kind: str = "timeout_after"
    calls: int = 1
    every: int = 0  # > 0: the nth invocation and every `every`-th after it (nth, nth + every, ...)

    def applies(self, function_name: str, count: int) -> bool:
        if not function_name.endswith(self.function) or count < self.nth:
            return False
        return count == self.nth or (self.every > 0 and (count - self.nth) % self.every == 0)


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
class StepFunctionsFault:
    """The next `count` calls of a Step Functions operation a function makes answer `error` (HTTP 400, as AWS
    answers ThrottlingException), before botocore's own retries: count 2 outlasts a client of two attempts."""

    operation: str
    error: str = "ThrottlingException"
    count: int = 1


@dataclass
class EngineFaults:
    lambdas: list[LambdaFault] = field(default_factory=list)
    dynamodb: list[DynamoDbFault] = field(default_factory=list)
    stepfunctions: list[StepFunctionsFault] = field(default_factory=list)
    history_page_max: int | None = None  # GetExecutionHistory answers a function at most this many events a page
    invocations_by_function: dict[str, int] = field(default_factory=dict)
    # Accounts whose member role STS refuses from now on (AccessDenied): a role deleted or its trust changed
    # mid-execution.
    assume_role_denied: frozenset[str] = frozenset()


@dataclass
class EngineStats:
    invocations: list[Invocation] = field(default_factory=list)
    # Called on the execution's thread after each invocation with (invocation, request, response): how the
    # rehearsal shows progress without reading moto's tables from another thread.
    listeners: list[Listener] = field(default_factory=list)
    # Read at every call (Lambda and DynamoDB): a test may replace the whole object at any time.
    faults: EngineFaults = field(default_factory=EngineFaults)
    # Called before each invocation runs, with (function name, request): a test stops an execution "during" a step.
    before_invoke: list[Callable[[str, dict[str, Any]], None]] = field(default_factory=list)
    # Called inside a handler before each AWS call it makes, with (function name, operation name): a test stops an
    # execution between two calls of one step (between chunks of a wave).
    on_aws_call: list[Callable[[str, str], None]] = field(default_factory=list)
    # Wall plus slept seconds of the longest invocation, the measure its deployed timeout is held to.
    max_virtual_seconds: float = 0.0
    # The largest item written to DynamoDB (by DynamoDB's byte rules) and its table: the 400 KB limit's margin.
    max_item_bytes: int = 0
    max_item_table: str | None = None
    # Sleep on the virtual clock, counted for the invocations and tasks open on the calling thread (as the SDK's
    # backoff is): how a rehearsal's stand-in function or approver takes its time.
    sleep: Callable[[float], None] = time.sleep
    # Our own IDs (a Lambda's request ID, an event's ID), drawn from the scenario's seed (patch 7).
    ids: random.Random = field(default_factory=lambda: random.Random(0))

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.ids.getrandbits(128), version=4))

    # Whether STS lets the orchestrator assume a role in an account (patch 24): the rehearsal's scenario decides.
    assumable: Callable[[str], bool] = lambda _account: True
    # Every AssumeRole STS answered: (role ARN, external ID, refused)
    assumed_roles: list[tuple[str, str | None, bool]] = field(default_factory=list)


class LambdaKilled(BaseException):
    """Raised inside a handler to cut it short, as a Lambda timeout does (BaseException: no `except Exception`
    in the code under test may swallow it)."""


class ValidationError(Exception):
    """A transaction's action DynamoDB refuses for its size: moto names a cancellation reason after the class of the
    exception the action raised, and AWS calls this reason ValidationError."""


class IdempotentParameterMismatch(DynamodbException):
    def __init__(self) -> None:
        super().__init__(
            "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
            message="The request uses the same client token as a previous, but non-identical request.",
        )


_inside_handler = threading.local()
# Per thread: the measures open on it (`accounts`), the transaction it runs (`transaction`), the execution whose
# Retry backoff it sleeps (`retrying`).
_thread_state = threading.local()


@dataclass(eq=False)
class _Account:
    """How long a measure (an invocation, a task) has taken: its wall time plus the virtual seconds slept on its own
    threads. The clock itself is shared by every execution, so it cannot tell."""

    limit: float | None = None
    slept: float = 0.0
    wall_started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return (time.perf_counter() - self.wall_started) + self.slept

    def expired(self) -> bool:
        return self.limit is not None and self.elapsed() > self.limit


def _accounts() -> list[_Account]:
    accounts: list[_Account] | None = getattr(_thread_state, "accounts", None)
    if accounts is None:
        accounts = _thread_state.accounts = []
    return accounts


@contextmanager
def _measuring(account: _Account) -> Iterator[_Account]:
    accounts = _accounts()
    accounts.append(account)
    try:
        yield account
    finally:
        accounts[:] = [other for other in accounts if other is not account]


class _AccountedThread(threading.Thread):
    """A thread that counts for the measures open where it was started (moto runs each task on its own thread)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inherited = list(_accounts())

    def run(self) -> None:
        _thread_state.accounts = self._inherited
        super().run()


# For a rehearsal's stand-ins answering a waiting task from another thread (drsctl/local/hooks.py).
AccountedThread = _AccountedThread


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


def _virtual_time_module(sleep: Callable[[float], Any]) -> types.ModuleType:
    """A stand-in for the `time` module whose `sleep` is `sleep` (one that advances the virtual clock)."""
    shim = types.ModuleType("time")
    shim.__dict__.update({name: getattr(time, name) for name in dir(time) if not name.startswith("__")})
    shim.sleep = sleep  # type: ignore[attr-defined]
    return shim


def _lambda_error(error_type: str, message: str, trace: list[str] | None = None) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": trace or []})


def _take_lambda_fault(faults: EngineFaults, function_name: str) -> LambdaFault | None:
    count = faults.invocations_by_function.get(function_name, 0) + 1
    faults.invocations_by_function[function_name] = count
    for fault in faults.lambdas:
        if fault.applies(function_name, count):
            return fault
    return None


def _never_ran(
    fault: LambdaFault | None, stats: EngineStats, account: _Account, timeout: int
) -> tuple[str, str] | None:
    """(result, error) of an invocation whose fault keeps the handler from running: never run, lost, or hung."""
    if fault is None:
        return None
    if fault.kind == "service_error":
        return _lambda_error("Lambda.ServiceException", "injected: the invocation never ran"), "Lambda.ServiceException"
    if fault.kind == "no_answer":
        waited = timeout + TASK_SLACK_SECONDS + 1  # past the task's TimeoutSeconds: States.Timeout
        stats.sleep(waited)
        account.slept -= waited  # the function never ran: its own timeout does not apply
        return _lambda_error("Lambda.Unknown", "injected: no answer"), "Lambda.Unknown"
    if fault.kind == "hang":
        stats.sleep(timeout)  # on the virtual clock, counted for this invocation and its task
        message = f"Task timed out after {timeout} s (injected: it hung)"
        return _lambda_error("Sandbox.Timedout", message), "Sandbox.Timedout"
    return None


def _in_process_invoke(stats: EngineStats) -> Callable[..., tuple[str, bool, str]]:
    def invoke(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, str | bytes) else (event or {})
        module_name, _, attribute = str(function.handler).rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
        timeout = int(function.timeout or 60)
        account = _Account()
        context = LambdaContext(
            function_name=function.function_name,
            function_version=str(function.version),
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size or 128),
            aws_request_id=stats.new_id(),
            timeout_seconds=timeout,
            elapsed=account.elapsed,
        )
        request = json.dumps(payload)
        response: Any = None
        error: str | None = None
        with _measuring(account):
            for hook in stats.before_invoke:
                hook(function.function_name, payload)
            fault = _take_lambda_fault(stats.faults, function.function_name)
            never_ran = _never_ran(fault, stats, account, timeout)
            if never_ran is not None:
                result, error = never_ran
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
                    trace = traceback.format_tb(raised.__traceback__)
                    result, error = _lambda_error(type(raised).__name__, str(raised), trace), type(raised).__name__
                finally:
                    _inside_handler.calls_left = None
                    _inside_handler.function = None
                took = account.elapsed()
                stats.max_virtual_seconds = max(stats.max_virtual_seconds, took)
                if took > timeout:
                    # AWS would have ended it at its timeout: the task that invoked it counts no more than that.
                    for other in _accounts():
                        if other is not account:
                            other.slept -= took - timeout
                if error is None and ((fault is not None and fault.kind == "timeout_after") or took > timeout):
                    # AWS ends an invocation at its timeout: whatever the handler did stays done, its answer is lost.
                    reason = (
                        "injected" if took <= timeout else f"{took:.1f} s of wall plus slept time, timeout {timeout} s"
                    )
                    result, error = _lambda_error("Sandbox.Timedout", f"Task timed out ({reason})"), "Sandbox.Timedout"
        seconds = time.perf_counter() - account.wall_started
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


_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")


class _AccessDenied(ServiceException):
    code = "AccessDenied"


def _assume_role_as_aws(original: Callable[..., Any], stats: EngineStats) -> Callable[..., Any]:
    """Patch 24: AssumeRole refused into an account the estate does not let the orchestrator into."""

    def assume_role(self: STSBackend, **kwargs: Any) -> Any:
        role_arn = str(kwargs.get("role_arn") or "")
        found = _ROLE_ACCOUNT.match(role_arn)
        account = found.group(1) if found else None
        refused = account is not None and (not stats.assumable(account) or account in stats.faults.assume_role_denied)
        stats.assumed_roles.append((role_arn, kwargs.get("external_id"), refused))
        if refused:
            caller = (
                f"arn:aws:sts::{self.account_id}:assumed-role/drs-orchestrator-local/{kwargs.get('role_session_name')}"
            )
            raise _AccessDenied(f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
        return original(self, **kwargs)

    return assume_role


def _member_roles_trust_the_functions_only(original: Callable[..., Any]) -> Callable[..., Any]:
    """Patch 24, the member role's trust: only the orchestrator's function roles may assume it (its trust policy's
    aws:PrincipalArn, stacks/member_account.py). A person's IAM user (the sandbox's `sandbox-operator`, whose key
    `drsctl run ...` signs with) is refused with AWS's message, as the member role refuses an operator on AWS."""

    def assume_role(self: TokenResponse) -> Any:
        role_arn = str(self._get_param("RoleArn") or "")
        found = _ROLE_ACCOUNT.match(role_arn)
        member_role = os.environ.get(accounts.MEMBER_ROLE_NAME) or accounts.DEFAULT_MEMBER_ROLE_NAME
        # The orchestrator's own account has no member role on AWS. In the sandbox the operator's user lives in
        # moto's account, which stands for the orchestrator's (drsctl/local/rehearsal.py): the CLI reaches the
        # orchestrator's account through its role there, a stand-in for the operator's own credentials.
        home = found is not None and found.group(1) == os.environ.get(accounts.ORCHESTRATOR_ACCOUNT)
        user = _iam_user_of(_signing_key(self))
        if user is not None and role_arn.rsplit("/", 1)[-1] == member_role and not home:
            raise _AccessDenied(f"User: {user} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
        return original(self)

    return assume_role


_SIGNED_BY = re.compile(r"Credential=([^/,\s]+)/")


def _signing_key(response: TokenResponse) -> str:
    """The access key that signed the request (moto's get_access_key knows only 20-character keys: the sandbox's
    operator signs with `sandbox`)."""
    signature = next((str(v) for k, v in dict(response.headers).items() if k.lower() == "authorization"), "")
    found = _SIGNED_BY.search(signature)
    return found.group(1) if found else ""


def _iam_user_of(access_key: str) -> str | None:
    """The ARN of the IAM user (moto's) whose access key this is; None for any other key (the functions' own)."""
    for account in list(iam_backends.values()):
        for partition in PARTITION_NAMES:
            for user in list(account[partition].users.values()):
                if any(key.access_key_id == access_key for key in user.access_keys):
                    return str(user.arn)
    return None


@contextmanager
def member_roles(stats: EngineStats) -> Iterator[None]:
    """Patch 23 (also applied by virtual_engine), for a check against the emulator outside a rehearsal (`drsctl plan
    validate --scenario`). moto warns that AccessDenied is no error shape of its STS model: the refusal is meant."""
    with (
        patch.object(STSBackend, "assume_role", _assume_role_as_aws(STSBackend.assume_role, stats)),
        patch.object(TokenResponse, "assume_role", _member_roles_trust_the_functions_only(TokenResponse.assume_role)),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message=".*AccessDenied.* does not match an error shape")
        yield


def account_of_access_key(access_key: str) -> str | None:
    """The account moto issued `access_key` in (an AssumeRole's temporary key is created in the role's account), or
    None for a key moto did not issue (the rehearsal's own credentials)."""
    for account_id, account in list(iam_backends.items()):
        for partition in PARTITION_NAMES:
            if access_key in account[partition].access_keys:
                return str(account_id)
    return None


_DYNAMODB_ERROR_STATUS = {"InternalServerError": 500}
CANCELLATION_REASONS = ("TransactionConflict", "ThrottlingError")


def _faulty_dynamodb(original: Callable[..., Any], stats: EngineStats) -> Callable[..., Any]:
    def call_action(self: DynamoHandler) -> Any:
        action = self._get_action()
        faults = stats.faults  # at each call: callers replace the whole EngineFaults
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


# --- DynamoDB item size (patch 10), transactions (patches 5 and 11) ---------------------------------------------


def _wire(value: Any) -> Any:
    """A value as moto stores it, back in DynamoDB's wire shape ({"S": ...}, {"M": {...}}), without copying it."""
    if not isinstance(value, DynamoType):
        return value  # already in the wire shape
    if value.is_list():
        return {value.type: [_wire(element) for element in value.value]}
    if value.is_map():
        return {value.type: {key: _wire(element) for key, element in value.value.items()}}
    return {value.type: value.value}


def stored_item_bytes(item: Item) -> int:
    """The size of an item as moto stores it, by DynamoDB's byte rules."""
    return typed_item_bytes({name: _wire(value) for name, value in item.attrs.items()})


def _in_transaction() -> bool:
    return getattr(_thread_state, "transaction", None) is not None


def _too_large(outside_a_transaction: Callable[[], Exception]) -> Exception:
    if _in_transaction():
        return ValidationError("Item size has exceeded the maximum allowed size")
    return outside_a_transaction()


def _note_item(stats: EngineStats, table_name: str, size: int) -> None:
    if size > stats.max_item_bytes:
        stats.max_item_bytes, stats.max_item_table = size, table_name


def _written(stats: EngineStats, table_name: str, size: int) -> None:
    pending: list[tuple[str, int]] | None = getattr(_thread_state, "transaction", None)
    if pending is not None:  # counts once the transaction commits
        pending.append((table_name, size))
    else:
        _note_item(stats, table_name, size)


def _put_back(table: Table, hash_value: DynamoType, range_value: DynamoType | None, item: Item | None) -> None:
    """Restore an item as it was (`None`: it did not exist)."""
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item  # type: ignore[assignment]  # a hash-only table maps a key to its item
    elif item is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item


def _sized_put_item(original: Callable[..., Item], stats: EngineStats) -> Callable[..., Item]:
    def put_item(self: DynamoDBBackend, table_name: str, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
        size = typed_item_bytes(item_attrs)
        if size > ITEM_MAX_BYTES:
            raise _too_large(ItemSizeTooLarge)
        item = original(self, table_name, item_attrs, *args, **kwargs)
        _written(stats, self.get_table(table_name).name, size)
        return item

    return put_item


_NOT_COPIED = object()


class _Unrendered:
    """What the UpdateItem handler gets back when no ReturnValues are asked for: nothing to render (patch 19)."""

    def to_json(self) -> dict[str, Any]:
        return {"Attributes": {}}


def _update_without_return_values(
    handler: Callable[..., Any], get_item: Callable[..., Any]
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(DynamoHandler.update_item, DynamoDBBackend.get_item) that skip the ReturnValues work when none are asked
    for (patch 19). The flag is per thread: only the handler's own read of the item before the update is skipped."""

    def update_item(self: DynamoHandler) -> Any:
        quiet = self.body.get("ReturnValues", "NONE") == "NONE" and not self.body.get(
            "ReturnValuesOnConditionCheckFailure"
        )
        _thread_state.no_return_values = quiet
        try:
            return handler(self)
        finally:
            _thread_state.no_return_values = False

    def backend_get_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        if getattr(_thread_state, "no_return_values", False):
            return None  # the handler's "existing item", read only to compute ReturnValues
        return get_item(self, *args, **kwargs)

    return update_item, backend_get_item


def _sized_update_item(original: Callable[..., Item], stats: EngineStats) -> Callable[..., Item]:
    def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
        table = self.get_table(table_name)
        _thread_state.item_before_update = _NOT_COPIED  # moto deep-copies the item first (`orig_item`): we keep it

        def put_back() -> None:
            before = _thread_state.item_before_update
            # In a transaction the transaction's backup restores the item; if moto failed before copying it, it
            # changed nothing.
            if before is not _NOT_COPIED and not _in_transaction():
                try:
                    hash_value, range_value = self.get_keys_value(table, key)
                except MockValidationException:
                    return  # a key moto reads its own way: left as moto left it
                _put_back(table, hash_value, range_value, before)

        try:
            item = original(self, table_name, key, *args, **kwargs)
        except Exception:
            put_back()  # moto may have changed or created the item before failing; DynamoDB changes nothing
            raise
        size = stored_item_bytes(item)
        if size > ITEM_MAX_BYTES:
            put_back()
            raise _too_large(ItemSizeToUpdateTooLarge)
        _written(stats, table.name, size)
        if getattr(_thread_state, "no_return_values", False):
            return _Unrendered()  # type: ignore[return-value]  # the handler renders nothing (patch 19)
        return item

    return update_item


def _batch_sized(original: Callable[..., Any]) -> Callable[..., Any]:
    def batch_write_item(self: DynamoHandler) -> Any:
        # DynamoDB refuses the whole batch when one item is too large; moto would write the items before it.
        for requests in (self.body.get("RequestItems") or {}).values():
            for request in requests:
                item = (request.get("PutRequest") or {}).get("Item")
                if item is not None and typed_item_bytes(item) > ITEM_MAX_BYTES:
                    raise ItemSizeTooLarge()
        return original(self)

    return batch_write_item


def _copies_for_rollbacks() -> types.ModuleType:
    """A stand-in for the `copy` module in moto's DynamoDB models. A table "copied" for a transaction's rollback is the
    table itself (patch 5 backs up the touched items instead); the copy UpdateItem makes of the item it updates
    (`orig_item`) is kept, to put the item back when the update is refused (patch 10)."""
    shim = types.ModuleType("copy")
    shim.__dict__.update({name: getattr(copy, name) for name in dir(copy) if not name.startswith("__")})

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, Table) and _in_transaction():
            return value
        copied = copy.deepcopy(value, memo)
        if value is None or isinstance(value, Item):
            _thread_state.item_before_update = copied
        return copied

    shim.deepcopy = deepcopy  # type: ignore[attr-defined]
    return shim


def _transact_with_item_backups(original: Callable[..., None], stats: EngineStats) -> Callable[..., None]:
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        backups: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = []
        for action in transact_items:
            try:
                ((kind, operation),) = action.items()
                table = self.get_table(operation["TableName"])
                hash_value, range_value = self.get_keys_value(table, operation["Item" if kind == "Put" else "Key"])
            except Exception:  # noqa: BLE001, S112 - a malformed action: moto refuses it itself
                continue
            backups.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
        pending: list[tuple[str, int]] = []
        _thread_state.transaction = pending
        try:
            original(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, item in reversed(backups):
                _put_back(table, hash_value, range_value, item)
            raise
        finally:
            _thread_state.transaction = None
        for table_name, size in pending:
            _note_item(stats, table_name, size)

    return transact_write_items


def _action_bytes(backend: DynamoDBBackend, action: dict[str, Any]) -> int:
    """An action's share of a transaction's 4 MB: a Put's item, or the stored item another action works on."""
    try:
        ((kind, operation),) = action.items()
        if kind == "Put":
            return typed_item_bytes(operation["Item"])
        table = backend.get_table(operation["TableName"])
        stored = table.get_item(*backend.get_keys_value(table, operation["Key"]))
    except Exception:  # noqa: BLE001 - a malformed action: moto refuses it itself
        return 0
    return stored_item_bytes(stored) if stored is not None else typed_item_bytes(operation["Key"])


def _transactions_as_aws(
    original: Callable[..., Any], clock: VirtualClock, tokens: dict[tuple[str, str, str], tuple[float, str]]
) -> Callable[..., Any]:
    def transact_write_items(self: DynamoHandler) -> Any:
        params: dict[str, Any] = self.body
        actions = params.get("TransactItems") or []
        if len(actions) > TRANSACTION_MAX_ACTIONS:
            members = ", ".join(
                f"com.amazonaws.dynamodb.v20120810.TransactWriteItem@{268435457 + n:x}" for n in range(len(actions))
            )
            raise MockValidationException(
                f"1 validation error detected: Value '[{members}]' at 'transactItems' failed to satisfy constraint: "
                f"Member must have length less than or equal to {TRANSACTION_MAX_ACTIONS}"
            )
        # (Ten items of at most 400 KB cannot pass 4 MB: only larger transactions are summed.)
        if len(actions) * ITEM_MAX_BYTES > TRANSACTION_MAX_BYTES and (
            sum(_action_bytes(self.dynamodb_backend, action) for action in actions) > TRANSACTION_MAX_BYTES
        ):
            raise MockValidationException("Transaction request cannot be larger than 4 MB")
        token = params.get("ClientRequestToken")
        if token is None:
            return original(self)
        key = (self.current_account, self.region, str(token))
        request = json.dumps(
            {name: value for name, value in params.items() if name != "ClientRequestToken"},
            sort_keys=True,
            default=repr,
        )
        seen = tokens.get(key)
        if seen is not None and clock.now() - seen[0] <= IDEMPOTENCY_WINDOW_SECONDS:
            if seen[1] != request:
                raise IdempotentParameterMismatch()
            return ActionResult({})  # done already: not applied again
        result = original(self)
        tokens[key] = (clock.now(), request)  # only a transaction that succeeded is remembered
        return result

    return transact_write_items


# --- Step Functions: execution and task timeouts (patches 12, 13), payload limit (patch 14) ---------------------


def _deadline(env: Environment) -> float | None:
    # Frames (a task's, a Map iteration's) share the execution's EventManager: it carries the deadline.
    deadline: float | None = getattr(env.event_manager, "virtual_deadline", None)
    return deadline


def _time_out(env: Environment) -> None:
    execution: Environment | None = getattr(env.event_manager, "virtual_execution", None)
    if execution is not None and execution.is_running():
        execution.set_timed_out()  # moto's own timed-out end: its frames stop, the program logs ExecutionTimedOut


def _described_with_stop_date(original: Callable[..., ActionResult]) -> Callable[..., ActionResult]:
    """DescribeExecution of a TIMED_OUT execution gives its stopDate, as AWS does (moto leaves it out)."""

    def describe_execution(self: StepFunctionResponse) -> ActionResult:
        result = original(self)
        described = result.result
        if isinstance(described, dict) and described.get("status") == "TIMED_OUT" and "stopDate" not in described:
            execution = self.stepfunction_backend.describe_execution(described["executionArn"])
            described["stopDate"] = execution.stop_date
        return result

    return describe_execution


def _iteration_error_name(error_name: str | None) -> ErrorName:
    """The error a failed Map iteration passes to its Map (patch 21): Step Functions' own names stay theirs."""
    if error_name is not None and error_name.startswith("States."):
        try:
            return StatesErrorName.from_name(error_name)
        except ValueError:  # a States. name moto's grammar does not know: what moto did before
            pass
    return CustomErrorName(error_name=error_name)


HISTORY_PAGE_DEFAULT = 100  # GetExecutionHistory's maxResults when not given (and when given as 0)
HISTORY_PAGE_MAX = 1000
_EXECUTION_DATA = ("input", "output", "inputDetails", "outputDetails")


def _in_a_function() -> bool:
    """Whether the calling thread is running one of our functions (a call it makes), not the rehearsal itself."""
    return getattr(_inside_handler, "function", None) is not None


def _faulty_stepfunctions(original: Callable[..., Any], stats: EngineStats) -> Callable[..., Any]:
    """A Step Functions call a function makes, answered with the error a fault names (patch 23)."""

    def call_action(self: StepFunctionResponse) -> Any:
        action = self._get_action()
        faults = stats.faults.stepfunctions
        fault = next((f for f in faults if f.count > 0 and f.operation == action), None) if _in_a_function() else None
        if fault is None:
            return original(self)
        fault.count -= 1
        body = {"__type": fault.error, "message": f"injected {fault.error}"}
        return 400, {"status": 400, "x-amzn-ErrorType": fault.error}, json.dumps(body)

    return call_action


def _history_as_aws(original: Callable[..., ActionResult], stats: EngineStats) -> Callable[..., ActionResult]:
    """GetExecutionHistory with reverseOrder, maxResults, nextToken and includeExecutionData (patch 22), in pages
    shorter than asked when a fault says so (patch 23)."""

    def get_execution_history(self: StepFunctionResponse) -> ActionResult:
        result = original(self)
        events = list(result.result["events"]) if isinstance(result.result, dict) else []
        if self._get_param("reverseOrder"):
            events.reverse()
        if self._get_param("includeExecutionData") is False:
            events = [_without_execution_data(event) for event in events]
        size = min(HISTORY_PAGE_MAX, int(self._get_param("maxResults") or HISTORY_PAGE_DEFAULT))
        if stats.faults.history_page_max is not None and _in_a_function():
            size = min(size, stats.faults.history_page_max)
        start = int(self._get_param("nextToken") or 0)
        page: dict[str, Any] = {"events": events[start : start + size]}
        if start + size < len(events):
            page["nextToken"] = str(start + size)
        return ActionResult(page)

    return get_execution_history


def _without_execution_data(event: dict[str, Any]) -> dict[str, Any]:
    return {
        key: ({k: v for k, v in value.items() if k not in _EXECUTION_DATA} if key.endswith("EventDetails") else value)
        for key, value in event.items()
    }


def payload_bytes(value: Any) -> int:
    """A payload's size as Step Functions counts it: its compact JSON in UTF-8."""
    text = (
        value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    )
    return len(text.encode())


def is_within_payload_limit(value: Any) -> bool:
    return payload_bytes(value) <= PAYLOAD_MAX_BYTES


def _limited_input(original: Callable[[Any, Environment], None]) -> Callable[[Any, Environment], None]:
    """A state's input after Parameters (or a Map iteration's after ItemSelector) is held to the payload limit."""

    def eval_body(self: Any, env: Environment) -> None:
        original(self, env)
        if not is_within_payload_limit(env.stack[-1]):
            error = StatesErrorNameType.StatesStatesDataLimitExceeded.to_name()
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(  # type: ignore[typeddict-item]  # one detail, as moto's own
                        executionFailedEventDetails=ExecutionFailedEventDetails(
                            error=error,
                            cause="The state's input after Parameters or ItemSelector processing has a size "
                            "exceeding the maximum number of bytes service limit.",
                        )
                    ),
                )
            )

    return eval_body


# --- Step Functions: parse trees (patch 25), Task clients (patch 26) ----------------------------------------------


def _kept_parse_trees(original: Callable[[str], tuple[Any, Any]]) -> Callable[[str], tuple[Any, Any]]:
    """Patch 25: a definition is parsed once; every caller gets components built anew from its tree."""

    @functools.lru_cache(maxsize=32)
    def tree_of(definition: str) -> Any:
        _, tree = original(definition)  # raises for a definition that does not parse: nothing is kept
        return tree

    def parse(definition: str) -> tuple[Any, Any]:
        tree = tree_of(definition)
        preprocessor = Preprocessor()
        preprocessor._query_language_per_scope = []  # moto's default: one list shared by every instance
        return preprocessor.visit(tree), tree

    return parse


def _kept_task_clients(original: Callable[..., BaseClient]) -> Callable[..., BaseClient]:
    """Patch 26: one client per Region and service for moto's Task states (moto ignores the state's credentials)."""

    @functools.lru_cache(maxsize=64)
    def client_for(region: str, service: str, intercepted: bool) -> BaseClient:
        return original(region=region, service=service)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> BaseClient:
        return client_for(region, service, botocore_stubber.enabled)

    return boto_client_for


def _shared_loaded_data(original: Callable[[Loader, str], tuple[Any, str]]) -> Callable[[Loader, str], tuple[Any, str]]:
    """Patch 27: what any loader read from the same search paths under the same name."""
    loaded: dict[tuple[tuple[str, ...], str], tuple[Any, str]] = {}

    def load_data_with_path(self: Loader, name: str) -> tuple[Any, str]:
        key = (tuple(self.search_paths), name)
        if key not in loaded:
            loaded[key] = original(self, name)  # raises DataNotFoundError for a missing name: nothing is kept
        return loaded[key]

    return load_data_with_path


def _cached_conditions(original: Callable[..., Any]) -> Callable[..., Any]:
    parsed: dict[str, Any] = {}

    def get_filter_expression(expr: str | None, names: Any, values: Any) -> Any:
        key = json.dumps([expr, names, values], sort_keys=True, default=str)
        if key not in parsed:
            if len(parsed) > 10_000:
                parsed.clear()
            parsed[key] = original(expr, names, values)
        return parsed[key]

    return get_filter_expression


_SET_TYPES = ("SS", "NS", "BS")


def _moto_size(kind: str, value: Any) -> int:
    """moto's `DynamoType.size` on a raw (type, value) pair: numbers by their digits, sets and lists and maps by their
    members (map keys included), booleans 1, everything else its bytes."""
    if kind == "N":
        return len(str(value))
    if kind in _SET_TYPES:
        return sum(_moto_size(kind[0], member) for member in value)
    if kind == "L":
        return sum(_raw_size(member) for member in value)
    if kind == "M":
        return sum(len(key.encode()) + _raw_size(member) for key, member in value.items())
    if isinstance(value, bool):
        return 1
    return len(value if isinstance(value, bytes) else str(value).encode())


def _raw_size(member: Any) -> int:
    if isinstance(member, DynamoType):
        return _moto_size(member.type, member.value)
    ((kind, value),) = member.items()
    return _moto_size(kind, value)


def _fast_item_size(self: Item) -> int:
    return sum(len(key.encode()) + _moto_size(value.type, value.value) for key, value in self.attrs.items())


# Table.query(hash_key, range_comparison, range_objs, limit, start, forward, projection, index_name, ...): where
# index_name is among the positional arguments after self
_QUERY_INDEX_NAME_ARG = 7
_narrowed = threading.local()


def _key_condition_first(original_query: Callable[..., Any], original_all_items: Callable[..., Any]) -> tuple[Any, Any]:
    """(Table.query, Table.all_items) that apply the sort-key condition before the 1 MB page limit (patch 18)."""

    def all_items(self: Table) -> list[Item]:
        narrowed: dict[int, list[Item]] = getattr(_narrowed, "tables", {})
        return narrowed[id(self)] if id(self) in narrowed else original_all_items(self)

    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        hash_key, range_comparison, range_objs = args[:3]
        index_name = args[_QUERY_INDEX_NAME_ARG] if len(args) > _QUERY_INDEX_NAME_ARG else kwargs.get("index_name")
        if index_name or hash_key is None or not range_comparison or not self.range_key_attr:
            return original_query(self, *args, **kwargs)
        partition = self.items.get(hash_key, {})
        matching = [item for item in partition.values() if item.range_key.compare(range_comparison, range_objs)]
        tables = _narrowed.__dict__.setdefault("tables", {})
        tables[id(self)] = matching
        try:
            return original_query(self, *args, **kwargs)
        finally:
            del tables[id(self)]

    return query, all_items


def _json_serialized(original: Callable[..., Any]) -> Callable[..., Any]:
    def serialized(self: DynamoHandler, action_result: Any) -> Any:
        result = action_result.result
        if isinstance(result, dict) and not getattr(self, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None):
            try:
                body = json.dumps(result, separators=(",", ":"))
            except TypeError:
                return original(self, action_result)
            headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
            return 200, headers, body
        return original(self, action_result)

    return serialized


def _seeded(seed: int, source: str) -> random.Random:
    return random.Random(f"{seed}:{source}")


def _seeded_sdk_backoff(generator: random.Random) -> Callable[..., float]:
    """botocore's standard-mode backoff (ExponentialBackoff.delay_amount), its `rand(0, 1)` drawn from `generator`.
    A client's backoff object holds `random.random` from when the client was made (the handlers keep their clients
    across invocations), so the draw is replaced where it is used, on a copy: clients are shared between threads."""
    original = botocore_standard_retries.ExponentialBackoff.delay_amount

    def delay_amount(self: Any, context: Any) -> float:
        seeded = copy.copy(self)
        seeded._random = generator.random
        delay: float = original(seeded, context)
        return delay

    return delay_amount


@contextmanager
def _moto_random_seeded(seed: int) -> Iterator[None]:
    """moto's one generator (IDs it makes), seeded for the block and put back as it was afterwards."""
    state = mock_random.getstate()
    mock_random.seed(f"{seed}:moto")
    try:
        yield
    finally:
        mock_random.setstate(state)


# Kept across rehearsals (module-level): the same definition and the same data files serve every one.
_PARSE_ONCE = _kept_parse_trees(AmazonStateLanguageParser.parse)
_LOADED_DATA = _shared_loaded_data(Loader.load_data_with_path)
_JSONPATH_PARSERS = {module: functools.lru_cache(maxsize=1024)(module.parse) for module in (json_path, result_path)}


@contextmanager
def virtual_engine(clock: VirtualClock, seed: int = 0) -> Iterator[EngineStats]:  # noqa: PLR0915 - every patch
    """Apply every patch for the duration of the block; moto is restored afterwards. `seed` (the scenario's) seeds
    every random draw made in the block (patch 7)."""
    stats = EngineStats(ids=_seeded(seed, "ids"))
    tokens: dict[tuple[str, str, str], tuple[float, str]] = {}

    def sleep_on_clock(seconds: float) -> None:
        """The SDK's backoff inside a handler: counted for the invocation and task measuring this thread."""
        for account in _accounts():
            account.slept += seconds
        clock.advance(seconds)

    stats.sleep = sleep_on_clock

    def sleep_until_deadline(env: Environment | None, seconds: float) -> None:
        deadline = _deadline(env) if env is not None else None
        if env is not None and deadline is not None and clock.now() + seconds > deadline:
            clock.advance_to(deadline)
            _time_out(env)
        else:
            clock.advance(seconds)

    def wait_on_clock(self: WaitFunction, env: Environment, wait_seconds: int) -> None:
        if wait_seconds > 0 and env.is_running():
            sleep_until_deadline(env, wait_seconds)

    original_retrier_eval_body = retrier_decl.RetrierDecl._eval_body

    def retrier_eval_body(self: retrier_decl.RetrierDecl, env: Environment) -> None:
        _thread_state.retrying = env
        try:
            original_retrier_eval_body(self, env)
        finally:
            _thread_state.retrying = None

    def retry_backoff(seconds: float) -> None:
        sleep_until_deadline(getattr(_thread_state, "retrying", None), seconds)

    def program_eval_on_clock(self: Program, env: Environment) -> None:
        # moto's Program.eval, with the execution's TimeoutSeconds counted on the virtual clock, not joined on.
        if not env.is_frame():  # the execution itself, not a Map iteration
            env.event_manager.virtual_execution = env  # type: ignore[attr-defined]
            if self.timeout_seconds is not None:
                deadline = clock.now() + self.timeout_seconds.timeout_seconds
                env.event_manager.virtual_deadline = deadline  # type: ignore[attr-defined]
        env.next_state_name = self.start_at.start_at_name
        worker_thread = threading.Thread(target=EvalComponent.eval, args=(self, env), daemon=True)
        TMP_THREADS.append(worker_thread)
        worker_thread.start()
        worker_thread.join()

    original_state_eval_body = CommonStateField._eval_body

    def state_eval_body_on_time(self: CommonStateField, env: Environment) -> None:
        deadline = _deadline(env)
        if deadline is not None and clock.now() > deadline:
            _time_out(env)
            return
        original_state_eval_body(self, env)
        if deadline is not None and clock.now() > deadline:
            _time_out(env)

    original_set_error = Environment.set_error

    def set_error_unless_timed_out(self: Environment, error: ExecutionFailedEventDetails) -> None:
        # What fails after the deadline (a Map's remaining iterations, which moto still starts) is no failure: the
        # execution has ended TIMED_OUT. (moto lets an error overwrite a timed-out end.)
        if not isinstance(self._program_state, ProgramTimedOut | ProgramStopped):  # 12, 20
            original_set_error(self, error)

    original_set_stop = Environment.set_stop

    def set_stop_interrupting_callbacks(self: Environment, *args: Any, **kwargs: Any) -> None:
        original_set_stop(self, *args, **kwargs)
        for endpoint in list(self.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()  # the waits return; the stopped execution goes no further

    original_evaluate_with_timeout = ExecutionState._evaluate_with_timeout

    def evaluate_with_virtual_timeout(self: ExecutionState, env: Environment) -> None:
        if not isinstance(self, StateTask):
            original_evaluate_with_timeout(self, env)
            return
        self.timeout.eval(env=env)
        with _measuring(_Account(limit=env.stack.pop())) as account:
            try:
                original_evaluate_with_timeout(self, env)
            except TimeoutError:
                raise
            except Exception as error:
                if account.expired():  # the task was over its time before it failed
                    raise EvalTimeoutError() from error
                raise

    original_add_event = event_manager.EventManager.add_event

    def add_event_in_time(
        self: event_manager.EventManager, context: Any, event_type: Any, *args: Any, **kwargs: Any
    ) -> int:
        if event_type in _TASK_SUCCEEDED and any(account.expired() for account in _accounts()):
            raise EvalTimeoutError()  # on the task's thread: the task is over its TimeoutSeconds, its answer is lost
        event_id: int = original_add_event(self, context, event_type, *args, **kwargs)
        return event_id

    original_error_equals = ErrorEqualsDecl._eval_body

    def error_equals_as_aws(self: ErrorEqualsDecl, env: Environment) -> None:
        name = getattr(env.stack[-1], "error_name", None)
        if name in _NEVER_MATCHED or (
            name in _NOT_MATCHED_BY_ALL and ErrorEqualsDecl._STATE_ALL_ERROR in self.error_names
        ):
            env.stack.pop()
            env.stack.append(False)
            return
        original_error_equals(self, env)

    original_map_eval_state = StateMap._eval_state

    def map_eval_state_abortable(self: StateMap, env: Any) -> None:
        try:
            original_map_eval_state(self, env)
        except AttributeError:
            if env.is_running():
                raise

    def event_timestamp() -> datetime:
        return datetime.fromtimestamp(clock.now(), tz=UTC)

    with ExitStack() as stack:

        def replace(target: Any, attribute: str, value: Any) -> None:
            stack.enter_context(patch.object(target, attribute, value))

        # 1, 3, 8: Lambdas in-process, measured, held to their timeout; 9: faults
        replace(LambdaFunction, "_invoke_lambda", _in_process_invoke(stats))
        replace(BaseClient, "_make_api_call", _counting_api_call(BaseClient._make_api_call))
        # 2: the virtual clock
        replace(WaitFunction, "_wait_interval", wait_on_clock)
        replace(retrier_decl, "time", _virtual_time_module(retry_backoff))
        replace(retrier_decl.RetrierDecl, "_eval_body", retrier_eval_body)
        replace(botocore_endpoint, "time", _virtual_time_module(sleep_on_clock))
        replace(event_manager.EventManager, "_get_current_timestamp", staticmethod(event_timestamp))
        shim = _virtual_datetime_module(clock)
        for module in _DATETIME_USERS:
            replace(module, "datetime", shim)
        # 4: stopping during a Map
        replace(StateMap, "_eval_state", map_eval_state_abortable)
        # 5, 10, 11: DynamoDB
        replace(DynamoHandler, "call_action", _faulty_dynamodb(DynamoHandler.call_action, stats))
        replace(
            DynamoHandler,
            "transact_write_items",
            _transactions_as_aws(DynamoHandler.transact_write_items, clock, tokens),
        )
        replace(DynamoHandler, "batch_write_item", _batch_sized(DynamoHandler.batch_write_item))
        # 17: parsed conditions cached
        replace(dynamodb_models, "get_filter_expression", _cached_conditions(comparisons.get_filter_expression))
        # 16: moto's item size, without building an object per nested value
        replace(Item, "size", _fast_item_size)
        # 18: the sort-key condition before the 1 MB page limit
        key_first_query, narrowed_all_items = _key_condition_first(Table.query, Table.all_items)
        replace(Table, "query", key_first_query)
        replace(Table, "all_items", narrowed_all_items)
        # 15: DynamoDB answers as plain JSON
        replace(DynamoHandler, "serialized", _json_serialized(DynamoHandler.serialized))
        replace(
            DynamoDBBackend,
            "transact_write_items",
            _transact_with_item_backups(DynamoDBBackend.transact_write_items, stats),
        )
        replace(DynamoDBBackend, "put_item", _sized_put_item(DynamoDBBackend.put_item, stats))
        replace(DynamoDBBackend, "update_item", _sized_update_item(DynamoDBBackend.update_item, stats))
        # 19: no ReturnValues asked, none computed
        quiet_update, quiet_get_item = _update_without_return_values(
            DynamoHandler.update_item, DynamoDBBackend.get_item
        )
        replace(DynamoHandler, "update_item", quiet_update)
        replace(DynamoDBBackend, "get_item", quiet_get_item)
        replace(dynamodb_models, "copy", _copies_for_rollbacks())
        replace(LimitedSizeDict, "__setitem__", dict.__setitem__)
        # 6, 7: JSONPath cache, seeded jitter
        for module, parse in _JSONPATH_PARSERS.items():
            replace(module, "parse", parse)
        # 7: every random draw from the scenario's seed, one generator per source
        replace(jitter_strategy_decl, "random", _seeded(seed, "states-retry-jitter"))
        replace(
            botocore_standard_retries.ExponentialBackoff,
            "delay_amount",
            _seeded_sdk_backoff(_seeded(seed, "sdk-retry-jitter")),
        )
        replace(botocore_legacy_retries, "random", _seeded(seed, "sdk-legacy-retry-jitter"))
        engine_ids = _seeded(seed, "engine-ids")
        replace(parser_utils, "uuid4", lambda: uuid.UUID(int=engine_ids.getrandbits(128), version=4))
        stack.enter_context(_moto_random_seeded(seed))
        # 12, 13: timeouts on the virtual clock
        replace(Program, "eval", program_eval_on_clock)
        replace(CommonStateField, "_eval_body", state_eval_body_on_time)
        replace(Environment, "set_error", set_error_unless_timed_out)
        # 20: a stop ends callback waits
        replace(Environment, "set_stop", set_stop_interrupting_callbacks)
        replace(ExecutionState, "_evaluate_with_timeout", evaluate_with_virtual_timeout)
        replace(
            StepFunctionResponse,
            "describe_execution",
            _described_with_stop_date(StepFunctionResponse.describe_execution),
        )
        replace(execute_state, "Thread", _AccountedThread)
        replace(event_manager.EventManager, "add_event", add_event_in_time)
        # 14: payload limit, terminal errors
        for module in _QUOTA_USERS:
            replace(module, "is_within_size_quota", is_within_payload_limit)
        replace(Parargs, "_eval_body", _limited_input(Parargs._eval_body))
        replace(ItemSelector, "_eval_body", _limited_input(ItemSelector._eval_body))
        replace(ErrorEqualsDecl, "_eval_body", error_equals_as_aws)
        # 21: a Map iteration's States.* error reaches the Map as it is
        replace(iteration_worker, "CustomErrorName", _iteration_error_name)
        # 22, 23: GetExecutionHistory's order and pages; faults of the Step Functions calls our functions make
        replace(
            StepFunctionResponse,
            "get_execution_history",
            _history_as_aws(StepFunctionResponse.get_execution_history, stats),
        )
        replace(StepFunctionResponse, "call_action", _faulty_stepfunctions(StepFunctionResponse.call_action, stats))
        # 24: AssumeRole refused where AWS would refuse it
        stack.enter_context(member_roles(stats))
        # 25, 26: one parse tree per definition, one Task client per Region and service
        replace(AmazonStateLanguageParser, "parse", staticmethod(_PARSE_ONCE))
        replace(lambda_eval_utils, "boto_client_for", _kept_task_clients(moto_boto_client.boto_client_for))
        # 27: botocore's data read once per process
        replace(Loader, "load_data_with_path", _LOADED_DATA)
        yield stats
