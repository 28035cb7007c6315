"""The IAM policies cover exactly the AWS calls each Lambda's code makes (plus StartRecovery's dependencies).

The calls are derived from the code: a call graph of the functions under lambdas/, walked from each handler,
collecting boto3 client and DynamoDB resource calls and paginators, named by botocore's service models.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from stacks import iam as permissions
from stacks.functions import FUNCTIONS
from tests.infra.conftest import of_type

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
SESSION = botocore.session.get_session()
OPERATIONS = {
    service: {xform_name(name): f"{prefix}:{name}" for name in SESSION.get_service_model(service).operation_names}
    for service, prefix in (("drs", "drs"), ("dynamodb", "dynamodb"))
}
# boto3 resource helpers -> the API actions they make
RESOURCE_HELPERS = {"batch_writer": "dynamodb:BatchWriteItem"}
TRANSACT_ITEM_ACTIONS = {"Put": "dynamodb:PutItem", "Delete": "dynamodb:DeleteItem", "Update": "dynamodb:UpdateItem"}


class Calls(ast.NodeVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.actions: set[str] = set()

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        self.names.add(name)
        if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
            self.actions.add(OPERATIONS["drs"][node.args[0].value])
        elif isinstance(node.func, ast.Attribute):
            for service in ("drs", "dynamodb"):
                if name in OPERATIONS[service] and name != "transact_write_items":
                    self.actions.add(OPERATIONS[service][name])
            if name in RESOURCE_HELPERS:
                self.actions.add(RESOURCE_HELPERS[name])
            if name == "transact_write_items":
                for item in ast.walk(node):
                    if isinstance(item, ast.Constant) and item.value in TRANSACT_ITEM_ACTIONS:
                        self.actions.add(TRANSACT_ITEM_ACTIONS[item.value])
        self.generic_visit(node)


def call_graph() -> dict[str, Calls]:
    graph: dict[str, Calls] = defaultdict(Calls)
    for path in LAMBDAS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                visitor = Calls()
                visitor.visit(node)
                graph[node.name].names |= visitor.names
                graph[node.name].actions |= visitor.actions
    return graph


def derived_actions(handler_module: str) -> set[str]:
    graph = call_graph()
    tree = ast.parse((LAMBDAS.parent / (handler_module.replace(".", "/") + ".py")).read_text())
    entry = Calls()
    entry.visit(tree)
    seen: set[str] = set()
    todo = list(entry.names)
    actions = set(entry.actions)
    while todo:
        name = todo.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        actions |= graph[name].actions
        todo.extend(graph[name].names)
    return actions


def granted_actions(resources: dict, function_key: str) -> set[str]:
    functions = of_type(resources, "AWS::Lambda::Function")
    logical = next(n for n, f in functions.items() if f["Properties"]["Handler"] == FUNCTIONS[function_key][0])
    role = functions[logical]["Properties"]["Role"]["Fn::GetAtt"][0]
    actions: set[str] = set()
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                actions |= set(listed)
    return {action for action in actions if not action.startswith(("logs:", "xray:"))}


@pytest.mark.parametrize("function_key", sorted(FUNCTIONS))
def test_policy_covers_the_code_and_nothing_beyond(resources, function_key):
    derived = derived_actions(FUNCTIONS[function_key][0].rsplit(".", 1)[0])
    granted = granted_actions(resources, function_key)
    assert derived <= granted, f"calls without permission: {sorted(derived - granted)}"
    allowed_extra = set(permissions.START_RECOVERY_DEPENDENCIES) if "drs:StartRecovery" in derived else set()
    assert granted - derived <= allowed_extra, f"permissions no code uses: {sorted(granted - derived - allowed_extra)}"


def test_derivation_finds_the_calls_we_know_about():
    assert {"drs:StartRecovery", "drs:DescribeJobs", "dynamodb:PutItem"} <= derived_actions(
        "lambdas.handlers.start_wave"
    )
    assert "drs:StartRecovery" not in derived_actions("lambdas.handlers.check_wave")
    assert "dynamodb:Query" in derived_actions("lambdas.handlers.reconcile")
