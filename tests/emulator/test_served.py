"""`drsctl emulator` as a user runs it: a real process on the real clock, driven by the pinned AWS CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "examples" / "scenario.yaml"


@pytest.fixture(scope="module")
def served():
    process = subprocess.Popen(
        [BIN / "drsctl", "emulator", "--scenario", EXAMPLE, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", first_line)
    assert match, f"no endpoint in {first_line!r}"
    yield process, match.group(0)
    if process.poll() is None:
        process.kill()


def aws(endpoint, *args, region="us-east-1"):
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_DRS": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
    }
    return subprocess.run(
        [BIN / "aws", "drs", *args, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.awscli
def test_aws_cli_lists_servers_per_region(served):
    _, endpoint = served
    east = aws(endpoint, "describe-source-servers")
    west = aws(endpoint, "describe-source-servers", region="us-west-2")
    assert east.returncode == 0, east.stderr
    hostnames = {s["sourceProperties"]["identificationHints"]["hostname"] for s in json.loads(east.stdout)["items"]}
    assert {"db-1", "app-1"} <= hostnames
    assert all(
        h.startswith("web")
        for h in (s["sourceProperties"]["identificationHints"]["hostname"] for s in json.loads(west.stdout)["items"])
    )


@pytest.mark.awscli
def test_aws_cli_starts_a_drill_and_reads_it_back(served):
    _, endpoint = served
    started = aws(
        endpoint,
        "start-recovery",
        "--source-servers",
        "sourceServerID=s-000000000aapp0001",
        "--is-drill",
        "--tags",
        "ExecutionId=cli-test",
    )
    assert started.returncode == 0, started.stderr
    job = json.loads(started.stdout)["job"]
    assert job["tags"] == {"ExecutionId": "cli-test"}
    listed = aws(endpoint, "describe-jobs", "--filters", f"jobIDs={job['jobID']}")
    assert json.loads(listed.stdout)["items"][0]["jobID"] == job["jobID"]
    again = aws(endpoint, "start-recovery", "--source-servers", "sourceServerID=s-000000000aapp0001", "--is-drill")
    assert again.returncode == 255  # AWS CLI v1: a service error
    assert "ConflictException" in again.stderr
    assert "s-000000000aapp0001" in again.stderr


@pytest.mark.awscli
def test_aws_cli_paginates(served):
    _, endpoint = served
    result = aws(endpoint, "describe-source-servers", "--page-size", "2")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["items"]) == 9


def test_ctrl_c_stops_the_served_emulator_cleanly(served):
    process, _ = served
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    assert process.stdout is not None
    assert "stopping the emulator" in process.stdout.read()
