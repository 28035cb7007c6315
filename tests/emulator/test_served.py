"""`drsctl emulator` as a user runs it: a real process on the real clock, driven by the pinned AWS CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from drsctl.commands.emulator import READY_LINE
from tests.conftest import BIN, HANG, ServedProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "scenario.yaml"


class Served(ServedProcess):
    """`drsctl emulator` in a subprocess (started with SIGINT ignored, as a background job of a script starts it)."""

    def __init__(self) -> None:
        super().__init__("emulator", "--scenario", EXAMPLE, "--port", "0", ready=READY_LINE, name="emulator")
        match = re.search(r"http://127\.0\.0\.1:\d+", "".join(self.seen))
        assert match, f"no endpoint in {self.seen!r}"
        self.endpoint = match.group(0)


@pytest.fixture(scope="module")
def served():
    running = Served()
    yield running.process, running.endpoint
    running.stop()


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
        timeout=HANG,
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


def _documented_commands(text: str) -> list[tuple[dict[str, str], list[str]]]:
    """The `aws drs` commands of the shell blocks in `text`, each with the variables its block sets before it."""
    commands: list[tuple[dict[str, str], list[str]]] = []
    variables: dict[str, str] = {}
    in_shell = in_block = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            in_shell = in_block and line.strip("`").strip() in ("", "sh", "bash", "shell")
            variables = {} if in_block else variables
            continue
        if not in_shell or not ("aws drs" in line or line.startswith("export ")):
            continue
        words = shlex.split(line.split(" # ")[0])
        if words[:1] == ["export"]:
            variables.update(word.split("=", 1) for word in words[1:])
            continue
        settings = {}
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            key, value = words.pop(0).split("=", 1)
            settings[key] = value
        if words[:2] == ["aws", "drs"]:
            commands.append(({**variables, **settings}, words))
    return commands


@pytest.mark.awscli
@pytest.mark.parametrize("doc", ["README.md", "docs/emulator.md"])
def test_the_documented_aws_cli_example_works_without_real_credentials(served, doc):
    _, endpoint = served
    commands = [c for c in _documented_commands((ROOT / doc).read_text()) if "describe-source-servers" in c[1]]
    assert commands, f"no aws drs describe-source-servers example in {doc}"
    for variables, words in commands:
        bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env = {
            **bare,
            "AWS_CONFIG_FILE": os.devnull,  # no credentials or region from this machine: only what the doc sets
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            **{k: v.replace("http://127.0.0.1:4566", endpoint) for k, v in variables.items()},
        }
        result = subprocess.run(
            [BIN / "aws", *words[1:], "--output", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=HANG,
            check=False,
        )
        assert result.returncode == 0, f"{doc}: {' '.join(words)}: {result.stderr}"
        assert json.loads(result.stdout)["items"]


def test_ctrl_c_stops_the_served_emulator_cleanly():
    """Started with SIGINT ignored (as `make test &` in a script starts every process below it): Ctrl-C stops it all
    the same, says so, exits 0, no traceback."""
    running = Served()  # its own process: the shared one serves the other tests, whatever their order
    try:
        running.interrupt()
    finally:
        running.stop()


def test_a_port_in_use_is_refused_in_one_line(served):
    _, endpoint = served
    port = endpoint.rsplit(":", 1)[1]
    result = subprocess.run(
        [BIN / "drsctl", "emulator", "--port", port],
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert f"error: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
