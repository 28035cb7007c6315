"""The Lambda asset carries lambdas/ and exactly the pinned dependencies, built for Python 3.13 on arm64."""

from __future__ import annotations

import hashlib
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stacks import bundling
from stacks.functions import ARCHITECTURE, FUNCTIONS, RUNTIME

# The Lambda python3.13 arm64 runtime, for evaluating requirement markers.
LAMBDA_ENVIRONMENT = {
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "extra": "",
}
ELF_MACHINE_AARCH64 = 183


def test_the_asset_is_built_for_the_functions_runtime():
    assert RUNTIME.name == "python3.13"
    assert ARCHITECTURE.name == "arm64"
    platform = " ".join(bundling.PIP_PLATFORM)
    assert "--platform manylinux2014_aarch64" in platform
    assert "--python-version 3.13" in platform
    assert "--only-binary=:all:" in platform


def test_the_pinned_packages_are_pyprojects_pins():
    pins: dict[str, str] = {
        canonicalize_name(Requirement(line).name): str(Requirement(line).specifier)
        for line in tomllib.loads((bundling.ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    requirements = dict(line.split("==") for line in bundling.requirements())
    assert pins["aws-lambda-powertools"] == "==3.37.0"
    for name in bundling.PINNED:
        assert f"=={requirements[name]}" == pins[name]


def test_the_dependencies_are_exactly_what_the_pinned_packages_need_on_the_lambda_runtime():
    """Walk the installed metadata from the pinned packages, markers evaluated for Lambda: nothing missing or extra."""
    needed: set[str] = set()
    todo = list(bundling.PINNED)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in needed:
            continue
        needed.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(LAMBDA_ENVIRONMENT):
                todo.append(requirement.name)
    assert needed == {canonicalize_name(n) for n in (*bundling.PINNED, *bundling.DEPENDENCIES)}
    assert not needed & {"boto3", "botocore"}  # the Lambda runtime's own


def _tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_the_bundle_holds_lambdas_and_its_dependencies_for_arm64_and_is_reproducible(tmp_path):
    wanted = bundling.requirements()
    if not all(bundling._wheel_present(requirement) for requirement in wanted):
        pytest.skip(f"no wheels in {bundling.WHEELHOUSE} yet: `make synth` downloads them (PyPI, once)")
    first, second = tmp_path / "first", tmp_path / "second"
    bundling.bundle(first)
    bundling.bundle(second)
    assert _tree(first) == _tree(second), "the asset hash must not change from one synth to the next"
    for spec in FUNCTIONS.values():
        module = spec.handler.rsplit(".", 1)[0]
        assert (first / (module.replace(".", "/") + ".py")).is_file(), module
    assert 'VERSION = "3.37.0"' in (first / "aws_lambda_powertools" / "shared" / "version.py").read_text()
    extensions = list((first / "pydantic_core").glob("_pydantic_core.cpython-313-aarch64-linux-gnu.so"))
    assert len(extensions) == 1
    header = extensions[0].read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64
    names = {path.name for path in first.rglob("*")}
    assert "__pycache__" not in names
    assert not any(name.endswith(".pyc") for name in names)
    assert not (first / "bin").exists()
    assert not (first / "boto3").exists()
    installed = {p.name.split("-")[0].lower() for p in first.glob("*.dist-info")}
    assert installed == {canonicalize_name(r.split("==")[0]).replace("-", "_") for r in wanted}
