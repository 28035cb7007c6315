"""drsctl as it starts and meets the machine: fast help, -h, --version, AWS configuration errors in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from drsctl.cli import app
from drsctl.emulator import Scenario

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PLAN = ROOT / "examples" / "plan.yaml"
HANG = 180  # bounds a hang only: a loaded machine may take many seconds to start Python


def test_starting_the_cli_imports_neither_the_sdk_nor_the_engine():
    """What makes `drsctl --help` fast (0.3 s instead of 2.5 s): moto, boto3, pydantic are imported by commands."""
    probe = (
        "import sys, drsctl.cli; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & {'moto', 'boto3', 'botocore', 'pydantic'})), "
        "' '.join(m for m in sys.modules if m.startswith(('drsctl.local', 'drsctl.emulator', 'lambdas'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=HANG, check=True, cwd=ROOT
    )
    assert result.stdout.split() == [], result.stdout


def test_help_short_and_long_and_version():
    long, short = CliRunner().invoke(app, ["--help"]), CliRunner().invoke(app, ["-h"])
    assert long.exit_code == short.exit_code == 0
    assert long.output == short.output
    assert "rehearse" in long.output and "--version" in long.output
    assert CliRunner().invoke(app, ["plan", "validate", "-h"]).exit_code == 0
    shown = CliRunner().invoke(app, ["--version"])
    assert shown.exit_code == 0
    assert shown.output.strip() == f"drsctl {version('drs-orchestrator')}"


def test_the_installed_command_answers_help_and_version():
    for flag in ("-h", "--version"):
        result = subprocess.run([BIN / "drsctl", flag], capture_output=True, text=True, timeout=HANG, check=False)
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("spelling", "mode"),
    [("DRILL", "DRILL"), ("Drill", "DRILL"), ("drill", "DRILL"), ("RECOVERY", "RECOVERY"), ("recovery", "RECOVERY")],
)
def test_mode_is_accepted_in_any_case(spelling, mode, tmp_path):
    """Read as the mode it names: with a database STALLED, a drill is refused (it would launch stale data) and a
    recovery goes ahead from the last snapshot."""
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    scenario["servers"][0]["replication"] = "STALLED"
    stalled = scenario["servers"][0]["id"]
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    result = CliRunner().invoke(
        app,
        ["plan", "validate", str(PLAN), "--scenario", str(tmp_path / "scenario.yaml"), "--mode", spelling],
        env={"COLUMNS": "200"},
    )
    if mode == "DRILL":
        assert result.exit_code == 2, result.output
        assert f"server {stalled} is not replicating (dataReplicationState STALLED" in result.output
        assert "a drill would launch it from stale data" in result.output
    else:
        assert result.exit_code == 0, result.output
        assert "the plan can run" in result.output
        assert f"{stalled}" in result.output and "STALLED" in result.output  # launched with a warning


def _without_aws(**extra: str) -> dict[str, str]:
    """This machine's environment with no AWS configuration at all, and DynamoDB pointed at a closed loopback port
    (nothing may reach AWS even if a credential were found)."""
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **bare,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "COLUMNS": "200",
        **extra,
    }


def _drsctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A fresh process: the SDK caches credentials per process, so a test's own would leak in."""
    return subprocess.run([BIN / "drsctl", *args], capture_output=True, text=True, timeout=HANG, env=env, check=False)


LOAD = ("plan", "load", str(PLAN), "--protection-groups-table", "pg", "--recovery-plans-table", "rp")


def test_plan_load_without_a_region_says_how_to_set_one():
    result = _drsctl(*LOAD, env=_without_aws(AWS_ACCESS_KEY_ID="t", AWS_SECRET_ACCESS_KEY="t"))
    assert result.returncode == 2, result.stderr
    assert "error: cannot store the plan: no AWS region is configured" in result.stderr
    assert "AWS_DEFAULT_REGION" in result.stderr and "Traceback" not in result.stderr


def test_plan_load_without_credentials_says_how_to_configure_them():
    result = _drsctl(*LOAD, env=_without_aws(AWS_DEFAULT_REGION="us-east-1"))
    assert result.returncode == 2, result.stderr
    assert "error: cannot store the plan: no AWS credentials found" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_validate_without_credentials_says_how_to_configure_them():
    result = _drsctl("plan", "validate", str(PLAN), env=_without_aws(AWS_DEFAULT_REGION="us-east-1"))
    assert result.returncode == 2, result.stderr
    assert "no AWS credentials found" in result.stderr and "--scenario" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_load_into_a_missing_table_names_it():
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1")
        result = CliRunner().invoke(
            app,
            list(LOAD),
            env={"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"},
        )
    assert result.exit_code == 2, result.output
    assert "table pg or rp not found" in result.output


def test_plan_validate_names_the_endpoint_it_checked_against(serve):
    scenario = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
    running = serve(Scenario.model_validate(scenario).model_dump())
    env = {"AWS_ENDPOINT_URL_DRS": running.endpoint, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}
    result = CliRunner().invoke(app, ["plan", "validate", str(PLAN)], env={**env, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"every server checked against the DRS endpoint {running.endpoint}" in result.output
    assert "AWS (" not in result.output
