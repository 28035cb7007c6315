"""The Lambda code asset: the lambdas/ package plus its pinned runtime dependencies, bundled on this machine (and the
state machine's definition, which Prepare reads: lambdas/core/task_budget.py; and drsctl/report, which the report
function runs: drsctl/report/publish.py).

Why not the public Powertools layer: its `.../latest` SSM parameter exists in only some commercial regions and moves
on its own, away from our pin (aws-lambda-powertools==3.37.0 in pyproject.toml); and we found no source that ties
3.37.0 to a layer version number we could pin instead. So the asset carries exactly the versions this repository
tests with:

- aws-lambda-powertools and pydantic at their pyproject.toml pins, and their dependencies (pydantic-core,
  annotated-types, typing-extensions, typing-inspection, jmespath) at the versions installed in the venv, so the
  deployed code runs on what the tests and the rehearsal ran on (a test checks the list is complete);
- built for the Lambda runtime (CPython 3.13, manylinux2014 aarch64: pydantic-core is compiled) by pip with
  `--platform`, not Docker; boto3 comes from the Lambda runtime, as before.

Limits: the wheels come from PyPI with pip the first time a machine bundles (`build/wheels/`, under 4 MB); every
synth after that is offline and takes a second or two. Bundling runs on `cdk synth` and `cdk deploy`; the infra tests
skip it (context aws:cdk:bundling-stacks = []), so they stay offline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, IgnoreMode, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parents[1]
DEFINITION = ROOT / "statemachine" / "recovery_plan.asl.json"
WHEELHOUSE = ROOT / "build" / "wheels" / "python3.13-arm64"
# The Lambda runtime the wheels must fit (stacks/functions.py RUNTIME and ARCHITECTURE).
PIP_PLATFORM = (
    *("--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.13", "--abi", "cp313"),
    "--only-binary=:all:",
)
# What lambdas/ imports beyond the standard library and boto3 (pinned in pyproject.toml)...
PINNED = ("aws-lambda-powertools", "pydantic")
# ...and what those need at run time on the Lambda runtime, no extras (a test walks their metadata to check).
DEPENDENCIES = ("pydantic-core", "annotated-types", "typing-extensions", "typing-inspection", "jmespath")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> list[str]:
    """`name==version` for every distribution the asset carries; the pinned ones must match pyproject.toml."""
    pins = {}
    for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, _, version = line.partition("==")
        pins[_normalized(name)] = version
    found = []
    for name in (*PINNED, *DEPENDENCIES):
        installed = metadata.version(name)
        if name in PINNED and pins.get(name) != installed:
            raise RuntimeError(
                f"{name} {installed} is installed but pyproject.toml pins {pins.get(name)}: reinstall the venv"
            )
        found.append(f"{name}=={installed}")
    return found


def _wheel_present(requirement: str) -> bool:
    name, version = requirement.split("==")
    pattern = f"{_normalized(name).replace('-', '_')}-{version}-*.whl"
    return any(WHEELHOUSE.glob(pattern))


def bundle(output_dir: Path) -> None:
    """lambdas/ and its dependencies into output_dir, laid out as the Lambda runtime imports them."""
    wanted = requirements()
    missing = [requirement for requirement in wanted if not _wheel_present(requirement)]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    if missing:  # the only network access: once per machine, from PyPI, with the ordinary pip
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        download = [*pip, "download", "--no-deps", *PIP_PLATFORM, "--dest", str(WHEELHOUSE), *missing]
        subprocess.run(download, check=True)  # noqa: S603 - our interpreter, our constants, pinned names
    subprocess.run(  # noqa: S603 - idem
        [
            *pip,
            "install",
            "--no-index",
            "--find-links",
            str(WHEELHOUSE),
            "--no-deps",
            "--no-compile",  # .pyc for this machine's Python would be useless there, and not reproducible
            *PIP_PLATFORM,
            "--target",
            str(output_dir),
            *wanted,
        ],
        check=True,
    )
    shutil.rmtree(output_dir / "bin", ignore_errors=True)  # console scripts (jmespath's jp.py): nothing runs them
    copy_code(output_dir)


def copy_code(output_dir: Path) -> None:
    """lambdas/, and the state machine's definition: Prepare reads its Retry blocks to know how long each Task can
    take at its worst (lambdas/core/task_budget.py), from the same file the stack deploys."""
    shutil.copytree(
        ROOT / "lambdas",
        output_dir / "lambdas",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )
    (output_dir / DEFINITION.parent.name).mkdir(exist_ok=True)
    shutil.copy2(DEFINITION, output_dir / DEFINITION.relative_to(ROOT))
    # The report function (drsctl/report/publish.py) builds the report `drsctl run report` builds: drsctl/report
    # comes along (its pure modules import only the standard library, boto3 and lambdas/), drsctl's other packages
    # do not. lambdas/ itself never imports drsctl.
    (output_dir / "drsctl").mkdir(exist_ok=True)
    shutil.copy2(ROOT / "drsctl" / "__init__.py", output_dir / "drsctl" / "__init__.py")
    shutil.copytree(
        ROOT / "drsctl" / "report",
        output_dir / "drsctl" / "report",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )


@jsii.implements(ILocalBundling)
class _LocalBundling:
    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        bundle(Path(output_dir))  # raises on failure: never fall back to Docker
        return True


def lambda_code() -> lambda_.Code:
    """The asset every function runs. Its hash is the bundled output's, so a dependency change redeploys the code."""
    return lambda_.Code.from_asset(
        str(ROOT),
        # Only what the bundle copies counts when bundling is skipped (infra tests); bundle() builds the bundle.
        exclude=[
            "*",
            "!lambdas",
            "!lambdas/**",
            "!statemachine",
            "!statemachine/recovery_plan.asl.json",
            "!drsctl",
            "drsctl/*",
            "!drsctl/__init__.py",
            "!drsctl/report",
            "!drsctl/report/**",
            "**/__pycache__",
            "**/*.pyc",
        ],
        ignore_mode=IgnoreMode.GIT,
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            image=DockerImage.from_registry("unused-local-bundling-only"),  # required by the type; never run
            local=_LocalBundling(),
        ),
    )
