"""The IAM policies grant exactly the AWS calls each Lambda's code makes (plus StartRecovery's dependencies).

The calls are derived from the code: a call graph of the functions under lambdas/, walked from each handler,
collecting boto3 client and DynamoDB resource calls and paginators, named by botocore's service models. DynamoDB calls
are attributed to their table (the `table(X_TABLE)` their receiver comes from) and, for a Query with an IndexName, to
the index, and compared with the grants table by table and index.
"""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import botocore.session
import pytest
from botocore import xform_name

from stacks import iam as permissions
from stacks.functions import FUNCTIONS
from stacks.grants import IAM5, MANAGED_POLICY_MAX, acknowledge_wildcards, wildcards
from stacks.tables import INDEXES, TABLES
from tests.infra.conftest import build_stack, of_type, synthesized
from tests.policy_evaluator import wildcard_match
from tests.template_values import resolve

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
SESSION = botocore.session.get_session()
# botocore service -> IAM prefix: every AWS service the Lambdas' code calls.
SERVICES = {
    "drs": "drs",
    "dynamodb": "dynamodb",
    "stepfunctions": "states",
    "sns": "sns",
    "ec2": "ec2",
    "iam": "iam",
    "service-quotas": "servicequotas",
    "cloudwatch": "cloudwatch",
    "events": "events",
    "s3": "s3",
}
OPERATIONS = {
    service: {xform_name(name): f"{prefix}:{name}" for name in SESSION.get_service_model(service).operation_names}
    for service, prefix in SERVICES.items()
}
# boto3 resource helpers -> the API actions they make
RESOURCE_HELPERS = {"batch_writer": "dynamodb:BatchWriteItem"}
TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Delete": "dynamodb:DeleteItem",
    "Update": "dynamodb:UpdateItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
TABLE_OF_VARIABLE = {variable: name for name, (variable, _, _) in TABLES.items()}
TABLE_OF_INDEX = {index: name for name, index in INDEXES}
# Granted by the stack for its own plumbing, not for the code's calls: logs and traces, and the reconcile function's
# on-failure destination (asserted in test_stack.py).
INFRASTRUCTURE_PREFIXES = ("logs:", "xray:", "sqs:")
POLICY_KINDS = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


class Call(NamedTuple):
    """One permission a call needs: the action, and for DynamoDB its table and index (None: the table itself)."""

    action: str
    table: str | None = None
    index: str | None = None


def _module_constants() -> dict[str, str]:
    constants: dict[str, str] = {}
    for path in LAMBDAS.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        constants[target.id] = node.value.value
    return constants


CONSTANTS = _module_constants()


def _constant(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    assert name in CONSTANTS, f"not a string constant: {ast.unparse(node)}"
    return CONSTANTS[name]


class Calls(ast.NodeVisitor):
    """The calls made in one function body (or a module's top level)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.calls: set[Call] = set()
        self.bindings: dict[str, ast.expr] = {}  # local name -> the expression it was bound to

    def bind(self, node: ast.AST) -> None:
        for item in ast.walk(node):
            if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
                self.bindings[item.targets[0].id] = item.value
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value is not None:
                self.bindings[item.target.id] = item.value
            elif isinstance(item, ast.withitem) and isinstance(item.optional_vars, ast.Name):
                self.bindings[item.optional_vars.id] = item.context_expr

    def receiver(self, node: ast.expr) -> tuple[str | None, bool]:
        """The table a receiver expression comes from (`table(X_TABLE)...`), and whether it is a batch writer."""
        seen: set[str] = set()
        batch = False
        while True:
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name == "table" and node.args:
                    return TABLE_OF_VARIABLE[_constant(node.args[0])], batch
                batch = batch or name == "batch_writer"
                if not isinstance(node.func, ast.Attribute):
                    return None, batch
                node = node.func.value
            elif isinstance(node, ast.Attribute):
                node = node.value
            elif isinstance(node, ast.Name) and node.id in self.bindings and node.id not in seen:
                seen.add(node.id)
                node = self.bindings[node.id]
            else:
                return None, batch

    def table_named(self, action: ast.expr) -> str | None:
        """The table a transaction action's `TableName` expression (`x.name`, `table(X).name`) refers to."""
        if isinstance(action, ast.Dict):
            for key, value in zip(action.keys, action.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "TableName" and isinstance(value, ast.Attribute):
                    return self.receiver(value.value)[0]
        if isinstance(action, ast.Name) and isinstance(self.bindings.get(action.id), ast.Dict):
            return self.table_named(self.bindings[action.id])
        return None

    def index_of(self, node: ast.Call) -> str | None:
        """The IndexName of a query: a keyword, or a key of the dict passed as **kwargs."""
        for keyword in node.keywords:
            if keyword.arg == "IndexName":
                return _constant(keyword.value)
            if keyword.arg is None and isinstance(keyword.value, ast.Name):
                bound = self.bindings.get(keyword.value.id)
                if isinstance(bound, ast.Dict):
                    for key, value in zip(bound.keys, bound.values, strict=True):
                        if isinstance(key, ast.Constant) and key.value == "IndexName":
                            return _constant(value)
        return None

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        self.names.add(name)
        if name == "partial" and node.args:  # partial(drs.describe_jobs, ...): read as the call it will make
            self.visit_Call(ast.Call(func=node.args[0], args=node.args[1:], keywords=node.keywords))
        if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
            self.calls |= {Call(ops[node.args[0].value]) for ops in OPERATIONS.values() if node.args[0].value in ops}
        elif isinstance(node.func, ast.Attribute):
            services = [service for service, ops in OPERATIONS.items() if name in ops]
            assert len(services) <= 1, f"{name} is an operation of {services}: attribute it by hand"
            if services == ["dynamodb"] or name in RESOURCE_HELPERS:
                self.dynamodb_call(node, name)
            elif services:
                self.calls.add(Call(OPERATIONS[services[0]][name]))
        self.generic_visit(node)

    def dynamodb_call(self, node: ast.Call, name: str) -> None:
        assert isinstance(node.func, ast.Attribute)
        table, batch = self.receiver(node.func.value)
        if name in RESOURCE_HELPERS:
            assert table, f"which table is {ast.unparse(node)} on?"
            self.calls.add(Call(RESOURCE_HELPERS[name], table))
            return
        if batch:
            return  # a batch writer's put_item is buffered into BatchWriteItem, counted above
        assert table, f"which table is {ast.unparse(node)} on? (the code goes through records.table(...))"
        if name == "transact_write_items":
            # Each action of the transaction is authorized on the table its own TableName names.
            for item in ast.walk(node):
                if not isinstance(item, ast.Dict):
                    continue
                for key, value in zip(item.keys, item.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value in TRANSACT_ITEM_ACTIONS:
                        self.calls.add(Call(TRANSACT_ITEM_ACTIONS[key.value], self.table_named(value) or table))
            return
        index = self.index_of(node) if name == "query" else None
        if index is not None:
            assert TABLE_OF_INDEX.get(index) == table, f"{index} is not an index of {table}"
        self.calls.add(Call(OPERATIONS["dynamodb"][name], table, index))


def _visit(node: ast.AST) -> Calls:
    calls = Calls()
    calls.bind(node)
    calls.visit(node)
    return calls


def call_graph() -> dict[str, Calls]:
    graph: dict[str, Calls] = defaultdict(Calls)
    for path in LAMBDAS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                visitor = _visit(node)
                graph[node.name].names |= visitor.names
                graph[node.name].calls |= visitor.calls
    return graph


GRAPH = call_graph()


def derived_calls(handler_module: str) -> set[Call]:
    entry = _visit(ast.parse((LAMBDAS.parent / (handler_module.replace(".", "/") + ".py")).read_text()))
    seen: set[str] = set()
    todo = list(entry.names)
    calls = set(entry.calls)
    while todo:
        name = todo.pop()
        if name in seen or name not in GRAPH:
            continue
        seen.add(name)
        calls |= GRAPH[name].calls
        todo.extend(GRAPH[name].names)
    return calls


def derived_actions(handler_module: str) -> set[str]:
    return {call.action for call in derived_calls(handler_module)}


def _table_logical_ids(resources: dict[str, Any]) -> dict[str, str]:
    return {
        logical: next(name for name in TABLES if logical.startswith(f"Records{name}"))
        for logical in of_type(resources, "AWS::DynamoDB::GlobalTable")
    }


def _resource_key(resource: Any, tables: dict[str, str]) -> tuple[str | None, str | None]:
    """(table, index) a granted resource stands for; (None, None) when it is not a table."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource and resource["Fn::GetAtt"][0] in tables:
        return tables[resource["Fn::GetAtt"][0]], None
    if isinstance(resource, dict) and "Fn::Join" in resource:
        parts = resource["Fn::Join"][1]
        if len(parts) == 2 and isinstance(parts[0], dict) and parts[0].get("Fn::GetAtt", [None])[0] in tables:
            assert parts[1].startswith("/index/"), parts
            return tables[parts[0]["Fn::GetAtt"][0]], parts[1].removeprefix("/index/")
    return None, None


def function_role(resources: dict[str, Any], function_key: str) -> str:
    functions = of_type(resources, "AWS::Lambda::Function")
    handler = FUNCTIONS[function_key].handler
    logical = next(n for n, f in functions.items() if f["Properties"]["Handler"] == handler)
    role: str = functions[logical]["Properties"]["Role"]["Fn::GetAtt"][0]
    return role


def role_policies(resources: dict[str, Any], role: str, kinds: tuple[str, ...] = POLICY_KINDS) -> list[dict[str, Any]]:
    """The policy documents of a role: its inline policies (AWS::IAM::Policy) and the managed policies it holds."""
    return [
        policy["Properties"]["PolicyDocument"]
        for kind in kinds
        for policy in of_type(resources, kind).values()
        if {"Ref": role} in policy["Properties"].get("Roles", [])
    ]


def role_statements(
    resources: dict[str, Any], function_key: str, kinds: tuple[str, ...] = POLICY_KINDS
) -> list[dict[str, Any]]:
    role = function_role(resources, function_key)
    return [statement for document in role_policies(resources, role, kinds) for statement in document["Statement"]]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted_calls(resources: dict[str, Any], function_key: str) -> set[Call]:
    """What the function's role allows, as Calls: DynamoDB actions per table and index, other actions alone."""
    tables = _table_logical_ids(resources)
    granted: set[Call] = set()
    for statement in role_statements(resources, function_key):
        assert statement["Effect"] == "Allow"
        for action in _listed(statement["Action"]):
            if action.startswith(INFRASTRUCTURE_PREFIXES):
                continue
            if not action.startswith("dynamodb:"):
                granted.add(Call(action))
                continue
            for resource in _listed(statement["Resource"]):
                table, index = _resource_key(resource, tables)
                assert table, f"{function_key}: {action} on something that is not one of our tables: {resource}"
                granted.add(Call(action, table, index))
    return granted


# Functions whose handler is not under lambdas/ (the report function runs drsctl/report's builder, which reads through
# clients it is given): their calls are recorded as they run instead (tests/infra/test_report_function.py).
RECORDED_FUNCTIONS = frozenset(key for key, spec in FUNCTIONS.items() if not spec.handler.startswith("lambdas."))


@pytest.mark.parametrize("function_key", sorted(set(FUNCTIONS) - RECORDED_FUNCTIONS))
def test_policy_grants_exactly_what_the_code_calls(resources, function_key):
    derived = derived_calls(FUNCTIONS[function_key].handler.rsplit(".", 1)[0])
    granted = granted_calls(resources, function_key)
    assert derived <= granted, f"calls without permission: {sorted(derived - granted, key=str)}"
    dependencies = (
        {Call(action) for action in permissions.START_RECOVERY_DEPENDENCY_ACTIONS}
        if Call("drs:StartRecovery") in derived
        else set()
    )
    if Call("drs:TerminateRecoveryInstances") in derived:  # DRS terminates the instances with our credentials
        dependencies |= {Call(action) for action in permissions.TERMINATE_DEPENDENCY_ACTIONS}
    if function_key in permissions.PUBLISHES_TO_TOPIC:  # the encrypted topic's key, for the messages it publishes
        dependencies |= {Call(action) for action in permissions.TOPIC_KEY_ACTIONS}
    assert granted - derived == dependencies, (
        f"permissions no code uses: {sorted(granted - derived - dependencies, key=str)}"
    )


def test_derivation_finds_the_calls_we_know_about():
    assert {
        Call("drs:StartRecovery"),
        Call("drs:DescribeJobs"),
        Call("dynamodb:PutItem", "ExecutionWaves"),
    } <= derived_calls("lambdas.handlers.start_wave")
    assert "drs:StartRecovery" not in derived_actions("lambdas.handlers.check_wave")
    # The record of an execution found by its ExecutionId alone: a Query of the table itself, not of an index.
    assert Call("dynamodb:Query", "ExecutionHistory") in derived_calls("lambdas.handlers.reconcile")
    sweep = derived_calls("lambdas.handlers.sweep")
    assert {
        Call("states:DescribeExecution"),
        Call("dynamodb:Query", "ExecutionHistory", "OpenExecutions"),
        Call("dynamodb:Query", "ExecutionLocks", "LocksByExecution"),
        Call("dynamodb:Scan", "ExecutionLocks"),
        Call("dynamodb:DeleteItem", "ExecutionLocks"),  # TransactWriteItems deletes, authorized per item
    } <= sweep
    # Each action of a transaction is authorized on the table it names: Prepare writes the waves (PutItem on
    # ExecutionWaves) in transactions that check its record (ConditionCheckItem on ExecutionHistory).
    prepare = derived_calls("lambdas.handlers.prepare")
    assert {
        Call("dynamodb:PutItem", "ExecutionWaves"),
        Call("dynamodb:ConditionCheckItem", "ExecutionHistory"),
    } <= prepare
    assert Call("dynamodb:ConditionCheckItem", "ExecutionWaves") not in prepare
    # Stale-lock takeover asks Step Functions whether the holder still runs.
    assert Call("states:DescribeExecution") in prepare


def test_no_call_name_is_an_operation_of_two_services():
    """The derivation names a call's service by its method name: that must be unambiguous for what the code calls."""
    called = {
        node.func.attr
        for path in LAMBDAS.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    for name in called:
        assert sum(name in ops for ops in OPERATIONS.values()) <= 1, name


def test_iam_lists_cover_every_function_and_nothing_else():
    for listing in (
        permissions.DRS_ACTIONS,
        permissions.STATES_ACTIONS,
        permissions.TABLE_ACTIONS,
        permissions.INDEX_QUERIES,
        permissions.EC2_ACTIONS,
    ):
        assert set(listing) == set(FUNCTIONS)


def test_step_functions_actions_are_granted_on_this_state_machines_executions_only(resources):
    machine = next(iter(of_type(resources, "AWS::StepFunctions::StateMachine").values()))["Properties"]
    name = machine["StateMachineName"]
    expected = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":states:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":execution:{name}:*",
            ],
        ]
    }
    answers = set(permissions.TASK_TOKEN_ACTIONS)  # they take no resource: the answer function's alone (below)
    for key in FUNCTIONS:
        statements = [
            s
            for s in role_statements(resources, key)
            if any(a.startswith("states:") and a not in answers for a in _listed(s["Action"]))
        ]
        assert [s["Resource"] for s in statements] == ([expected] if permissions.STATES_ACTIONS[key] else [])
        answering = [s for s in role_statements(resources, key) if answers & set(_listed(s["Action"]))]
        assert [s["Resource"] for s in answering] == (["*"] if key in permissions.ANSWERS_TASK_TOKENS else [])


# What the review found missing for launching recovery instances, as AWSElasticDisasterRecoveryConsoleFullAccess_v2
# grants it, and the SSM actions AWSElasticDisasterRecoveryLaunchActionsPolicy grants for post-launch actions.
CONSOLE_FULL_ACCESS_V2_LAUNCH = {
    "ec2:CreateFleet",
    "ec2:CreateTags",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:AssociateIamInstanceProfile",
    "ec2:GetEbsEncryptionByDefault",
    "ec2:GetEbsDefaultKmsKeyId",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeKeyPairs",
    "ec2:DescribeCapacityReservations",
    "ec2:DescribeHosts",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "kms:DescribeKey",
}
LAUNCH_ACTIONS_POLICY_SSM = {
    "ssm:DescribeInstanceInformation",
    "ssm:DescribeParameters",
    "ssm:SendCommand",
    "ssm:StartAutomationExecution",
    "ssm:ListDocuments",
    "ssm:ListCommandInvocations",
    "ssm:ListDocumentVersions",
    "ssm:GetDocument",
    "ssm:DescribeDocument",
    "ssm:GetAutomationExecution",
    "ssm:GetParameters",
    "ssm:GetParameter",
    "ssm:PutParameter",
}


def _render(template: str) -> Any:
    """An ARN template of stacks/iam.py as CDK renders it in the template."""
    partition, account = {"Ref": "AWS::Partition"}, {"Ref": "AWS::AccountId"}
    if "{" not in template:
        return template
    parts: list[Any] = []
    for piece in template.replace("{partition}", "\0P\0").replace("{account}", "\0A\0").split("\0"):
        parts.append(partition if piece == "P" else account if piece == "A" else piece)
    return {"Fn::Join": ["", [part for part in parts if part != ""]]}


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def triples(statements: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(action, resource, condition) for every action and resource of the statements: what they allow, however CDK
    merged them (minimizePolicies joins statements that share their condition)."""
    return {
        (action, _key(resource), _key(statement.get("Condition", {})))
        for statement in statements
        for action in _listed(statement["Action"])
        for resource in _listed(statement["Resource"])
    }


def grant_triples(grants: tuple[permissions.Grant, ...]) -> set[tuple[str, str, str]]:
    return {
        (action, _key(_render(resource)), _key(grant.conditions))
        for grant in grants
        for action in grant.actions
        for resource in grant.resources
    }


def test_start_wave_carries_every_action_drs_needs_to_launch_and_run_post_launch_actions(resources):
    actions = permissions.START_RECOVERY_DEPENDENCY_ACTIONS
    assert actions >= CONSOLE_FULL_ACCESS_V2_LAUNCH
    assert actions >= LAUNCH_ACTIONS_POLICY_SSM
    assert "kms:CreateGrant" not in actions  # neither managed policy grants it
    # the launch dependencies are exactly the managed policies the start_wave role holds, statement for statement
    managed = role_statements(resources, "start_wave", ("AWS::IAM::ManagedPolicy",))
    dependencies = (*permissions.START_RECOVERY_DEPENDENCIES, *permissions.POST_LAUNCH_DEPENDENCIES)
    assert triples(managed) == grant_triples(dependencies)
    for key in set(FUNCTIONS) - {"start_wave"}:
        granted = {action for s in role_statements(resources, key) for action in _listed(s["Action"])}
        # Check health reads ec2:DescribeInstanceStatus itself (DRS also needs it to launch): only what its code calls;
        # the drill cleanup holds what DRS needs to terminate
        own = derived_actions(FUNCTIONS[key].handler.rsplit(".", 1)[0])
        needed = permissions.TERMINATE_DEPENDENCY_ACTIONS if "drs:TerminateRecoveryInstances" in granted else set()
        assert not (granted & actions) - own - needed, f"{key} carries DRS launch permissions"
    assert "ec2:DescribeInstanceStatus" in derived_actions("lambdas.handlers.check_health")


def test_only_the_cleanup_may_terminate_and_it_carries_what_drs_needs_to_terminate(resources):
    for key in FUNCTIONS:
        granted = {action for s in role_statements(resources, key) for action in _listed(s["Action"])}
        terminates = "drs:TerminateRecoveryInstances" in granted
        assert terminates == (key == "cleanup"), f"{key}: TerminateRecoveryInstances granted: {terminates}"
        if terminates:
            assert triples(role_statements(resources, key)) >= grant_triples(permissions.TERMINATE_DEPENDENCIES)


def test_post_launch_ssm_calls_are_allowed_only_through_drs(resources):
    through_drs = {"ssm:SendCommand", "ssm:StartAutomationExecution", "ssm:DescribeInstanceInformation"}
    seen = set()
    for statement in role_statements(resources, "start_wave"):
        actions = set(_listed(statement["Action"])) & through_drs
        if actions:
            seen |= actions
            assert statement["Condition"]["ForAnyValue:StringEquals"] == {"aws:CalledVia": ["drs.amazonaws.com"]}
    assert seen == through_drs


# -- the grants against the AWS managed policies they mirror ------------------------------------------------------

MANAGED_POLICIES = {
    json.loads(path.read_text())["PolicyName"]: json.loads(path.read_text())
    for path in (Path(__file__).parent / "managed_policies").glob("*.json")
}
SAMPLE = {"{partition}": "aws", "{account}": "111122223333"}  # how the managed policies' ARNs are written


def _sample(template: str) -> str:
    for token, value in SAMPLE.items():
        template = template.replace(token, value)
    return template


def _values(value: Any) -> list[str]:
    return sorted(str(item) for item in _listed(value))


def _narrower(ours: str, theirs: str) -> bool:
    """Every ARN `ours` matches is matched by `theirs`: `theirs` matches `ours` with its wildcards read as plain
    characters (each of our wildcards then falls within one of theirs)."""
    return wildcard_match(theirs, ours)


def test_every_mirrored_grant_is_at_most_the_managed_statement_it_names():
    for grant in permissions.MIRRORED:
        mirror = grant.mirrors
        assert mirror is not None, f"{grant.actions}: which managed policy statement does it mirror?"
        policy = MANAGED_POLICIES[mirror.policy]
        assert policy["VersionId"] == mirror.version, f"{mirror}: the copy in tests/ is {policy['VersionId']}"
        statement = next(s for s in policy["Statement"] if s["Sid"] == mirror.sid)
        where = f"{grant.actions} (mirrors {mirror.policy} {mirror.version} {mirror.sid})"
        for action in grant.actions:
            assert any(wildcard_match(a, action, ignore_case=True) for a in _listed(statement["Action"])), where
        for resource in grant.resources:
            assert any(_narrower(_sample(resource), theirs) for theirs in _listed(statement["Resource"])), (
                f"{where}: {resource} is not within {statement['Resource']}"
            )
        for operator, keys in statement.get("Condition", {}).items():
            for key, value in keys.items():
                assert _values(grant.conditions.get(operator, {}).get(key)) == _values(value), (
                    f"{where}: drops the condition {operator} {key} {value}"
                )
        extra = {
            (operator, key)
            for operator, keys in grant.conditions.items()
            for key in keys
            if key not in statement.get("Condition", {}).get(operator, {})
        }
        assert bool(extra) == bool(grant.stricter), f"{where}: added conditions {extra} need a reason (stricter)"


MUTATING_EC2 = re.compile(r"ec2:(?!Describe|Get)")
NOT_NEEDED_TO_LAUNCH = {"ec2:GetConsoleOutput", "ec2:GetConsoleScreenshot"}  # what an operator looks at, not DRS


def test_the_launch_grants_hold_every_mutating_ec2_action_and_ssm_action_the_managed_policies_grant():
    """Nothing DRS may need is left out: each mutating EC2 action ConsoleFullAccess_v2 grants, each SSM action of
    LaunchActionsPolicy, is in the launch grants (where the managed statement grants it)."""
    ours = grant_triples((*permissions.START_RECOVERY_DEPENDENCIES, *permissions.POST_LAUNCH_DEPENDENCIES))
    ours_by_statement = {
        (grant.mirrors.sid, action)
        for grant in (*permissions.START_RECOVERY_DEPENDENCIES, *permissions.POST_LAUNCH_DEPENDENCIES)
        if grant.mirrors is not None
        for action in grant.actions
    }
    assert ours
    for name, wanted in (
        ("AWSElasticDisasterRecoveryConsoleFullAccess_v2", MUTATING_EC2),
        ("AWSElasticDisasterRecoveryLaunchActionsPolicy", re.compile(r"ssm:")),
    ):
        for statement in MANAGED_POLICIES[name]["Statement"]:
            for action in _listed(statement["Action"]):
                if wanted.match(action) and action not in NOT_NEEDED_TO_LAUNCH:
                    assert (statement["Sid"], action) in ours_by_statement, f"{name} {statement['Sid']}: {action}"


def _all_statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every identity policy in the template: inline, managed, and roles' own Policies."""
    for logical, resource in resources.items():
        properties = resource.get("Properties", {})
        documents = []
        if resource["Type"] in POLICY_KINDS:
            documents.append(properties["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents.extend(policy["PolicyDocument"] for policy in properties.get("Policies", []))
        for document in documents:
            for statement in document["Statement"]:
                yield logical, statement


DRS_CONDITIONS = ("aws:ViaAWSService", "aws:CalledVia")


def test_no_mutating_ec2_action_without_the_condition_that_only_drs_makes_it(resources):
    for logical, statement in _all_statements(resources):
        mutating = [a for a in _listed(statement["Action"]) if MUTATING_EC2.match(a) or a in ("ec2:*", "*")]
        if not mutating:
            continue
        keys = {key for keys in statement.get("Condition", {}).values() for key in keys}
        assert keys & set(DRS_CONDITIONS), f"{logical}: {mutating} without aws:ViaAWSService / aws:CalledVia"


TO_SCHEDULER = {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


def _pass_role_resources(resources: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """Every role some policy may pass, but the drill schedules' role to EventBridge Scheduler (checked apart:
    test_the_only_other_role_passed_is_the_drill_role_to_scheduler)."""
    return [
        (logical, resource, condition)
        for logical, resource, condition in _all_pass_role_resources(resources)
        if condition != TO_SCHEDULER
    ]


def _all_pass_role_resources(resources: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    return [
        (logical, resource, statement.get("Condition", {}))
        for logical, statement in _all_statements(resources)
        if {"iam:PassRole", "iam:*", "*"} & set(_listed(statement["Action"]))
        for resource in _listed(statement["Resource"])
    ]


def test_the_only_other_role_passed_is_the_drill_role_to_scheduler(resources, template):
    """OperatorPolicy passes the drill schedules' role (it may only start the state machine) to EventBridge
    Scheduler, as drsctl plan load creates a plan's schedule with it; no other role, to no other service."""
    drill_role = template.to_json()["Outputs"]["DrillScheduleRoleArn"]["Value"]
    to_scheduler = [(r, c) for _, r, c in _all_pass_role_resources(resources) if c == TO_SCHEDULER]
    assert to_scheduler == [(drill_role, TO_SCHEDULER)]


def test_pass_role_only_for_drs_service_roles_to_ec2(resources):
    expected = {
        _key(_render(f"arn:{{partition}}:iam::{{account}}:role/service-role/{name}"))
        for name in permissions.DRS_SERVICE_ROLES
    }
    passed = _pass_role_resources(resources)
    assert {_key(resource) for _, resource, _ in passed} == expected
    assert all(condition == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}} for *_, condition in passed)


def test_roles_named_at_deploy_are_passed_too_and_nothing_broader(tmp_path):
    named = ["MyRecoveryInstanceRole", "service-role/AppRecoveryRole"]
    template = synthesized(tmp_path, **{permissions.INSTANCE_ROLES_CONTEXT: named})
    passed = {_key(resource) for _, resource, _ in _pass_role_resources(template["Resources"])}
    assert passed == {
        _key(_render(f"arn:{{partition}}:iam::{{account}}:role/{name}"))
        for name in [*named, *(f"service-role/{role}" for role in permissions.DRS_SERVICE_ROLES)]
    }
    for wrong in (["Admin*"], ["role/../x y"], "not-a-list-of-names*"):
        with pytest.raises(ValueError, match=permissions.INSTANCE_ROLES_CONTEXT):
            build_stack(tmp_path / "wrong", **{permissions.INSTANCE_ROLES_CONTEXT: wrong})
    assert permissions.named_roles_grant([]) is None
    assert permissions.role_names(None) == []
    assert permissions.role_names("RoleA, service-role/RoleB,") == ["RoleA", "service-role/RoleB"]  # -c key=A,B
    assert permissions.role_names(["RoleA"]) == ["RoleA"]


# -- cdk-nag: each wildcard acknowledged on its own policy ----------------------------------------------------------


def test_iam5_is_acknowledged_policy_by_policy_never_for_the_stack(stack, template):
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam

    acknowledged = acknowledge_wildcards(stack)
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY

    def acks(construct: Any) -> set[str]:
        return {rule for entry in construct.node.metadata if entry.type == key for rule in (entry.data or {})}

    assert not {rule for rule in acks(stack) if "IAM5" in rule}, "IAM5 acknowledged for the whole stack"
    policies = [c for c in stack.node.find_all() if isinstance(c, (iam.Policy, iam.ManagedPolicy))]
    assert len(policies) > len(FUNCTIONS)
    policy_paths = {policy.node.path for policy in policies}
    for construct in stack.node.find_all():
        iam5 = {rule for rule in acks(construct) if "IAM5" in rule}
        if not iam5:
            continue
        assert construct.node.path in policy_paths, f"{construct.node.path}: IAM5 acknowledged on a non-policy"
        found = {f"{IAM5}[{finding}]" for finding in wildcards(stack.resolve(construct.document))}
        assert iam5 == found == set(acknowledged[construct.node.path]), construct.node.path
        assert all(acknowledged[construct.node.path].values())
    cleanup = next(p for p in policies if "cleanup" in p.node.path and isinstance(p, iam.Policy))
    reasons = acknowledged[cleanup.node.path]
    assert "drs:DescribeJobs" in reasons[f"{IAM5}[Resource::*]"]  # a `*` is explained by what takes no resource
    instance = f"{IAM5}[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:instance/*]"
    assert "AWSElasticDisasterRecoveryManaged" in reasons[instance]


def test_a_wildcard_nobody_explained_fails_the_synth(tmp_path):
    from aws_cdk import aws_iam as iam

    built = build_stack(tmp_path)
    role = next(c for c in built.node.find_all() if isinstance(c, iam.Role))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::bucket/*"]))
    with pytest.raises(ValueError, match=r"arn:aws:s3:::bucket/\* has a wildcard nobody explained"):
        acknowledge_wildcards(built)


# -- sizes: what IAM accepts ----------------------------------------------------------------------------------------

LONGEST_PARTITION = {
    "AWS::Partition": "aws-us-gov",
    "AWS::Region": "us-gov-west-1",
    "AWS::AccountId": "123456789012",
}


def _deployed_size(document: dict[str, Any], resources: dict[str, Any]) -> int:
    """The policy as IAM counts it (no whitespace), intrinsics replaced by values as long as they get."""
    names = {**LONGEST_PARTITION}
    for logical in resources:
        names[logical] = "x" * 64  # a generated name
        for attribute in ("Arn", "StreamArn"):
            names[f"{logical}.{attribute}"] = f"arn:aws-us-gov:service:us-gov-west-1:123456789012:type/{'x' * 100}"
    return len(json.dumps(resolve(document, names), separators=(",", ":")))


def test_every_policy_fits_what_iam_accepts(resources):
    inline: dict[str, int] = defaultdict(int)
    for logical, resource in of_type(resources, "AWS::IAM::ManagedPolicy").items():
        size = _deployed_size(resource["Properties"]["PolicyDocument"], resources)
        assert size <= MANAGED_POLICY_MAX, f"{logical}: {size} characters"
    for resource in of_type(resources, "AWS::IAM::Policy").values():
        size = _deployed_size(resource["Properties"]["PolicyDocument"], resources)
        for role in resource["Properties"]["Roles"]:
            inline[role["Ref"]] += size
    assert inline and all(size <= 10240 for size in inline.values()), inline
    attached = defaultdict(int)
    for resource in of_type(resources, "AWS::IAM::ManagedPolicy").values():
        for role in resource["Properties"].get("Roles", []):
            attached[role["Ref"]] += 1
    assert attached and max(attached.values()) <= 10  # managed policies per role (IAM default quota)


def test_queries_of_an_index_are_granted_on_the_index(resources):
    tables = _table_logical_ids(resources)
    for key in FUNCTIONS:
        indexes = {
            _resource_key(resource, tables)
            for statement in role_statements(resources, key)
            if "dynamodb:Query" in _listed(statement["Action"])
            for resource in _listed(statement["Resource"])
        }
        assert {pair for pair in indexes if pair[1]} == set(permissions.INDEX_QUERIES[key])
