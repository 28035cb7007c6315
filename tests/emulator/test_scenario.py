"""The scenario file: the bundled example, its schema, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from drsctl.cli import app
from drsctl.emulator import load_scenario
from drsctl.schemas import DOCS, SCHEMAS, render

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_is_a_realistic_three_tier_estate_in_two_regions():
    scenario = load_scenario(ROOT / "examples" / "scenario.yaml")
    tiers = {server.tags["Tier"] for server in scenario.servers}
    regions = {scenario.region_of(server) for server in scenario.servers}
    assert len(scenario.servers) >= 12
    assert tiers == {"db", "app", "web"}
    assert regions == {"us-east-1", "us-west-2"}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schemas_match_the_models(name):
    assert (DOCS / name).read_text() == render(name), f"regenerate with: python -m drsctl.schemas ({name})"


@pytest.mark.parametrize(
    ("scenario", "field", "hint"),
    [
        ({"servers": [{"id": "s-123", "hostname": "a"}]}, "servers.0.id", "pattern"),
        (
            {"servers": [{"id": "s-00000000000000001", "hostname": "a", "replication": "HEALTHY"}]},
            "servers.0.replication",
            "CONTINUOUS",
        ),
        ({"faults": [{"operation": "StartRecovery", "error": "Boom"}]}, "faults.0.error", "ThrottlingException"),
        ({"faults": [{"operation": "Launch", "error": "ThrottlingException"}]}, "faults.0.operation", "StartRecovery"),
        ({"quotas": {"maxServersPerJob": 0}}, "quotas.maxServersPerJob", "greater than or equal to 1"),
        ({"timing": {"drill": {"launch": -1}}}, "timing.drill.launch", "greater than or equal to 0"),
        ({"tiemout": 3}, "tiemout", "Extra inputs are not permitted"),
    ],
)
def test_invalid_scenarios_name_the_field(scenario, field, hint):
    from drsctl.emulator import Scenario

    with pytest.raises(ValidationError) as raised:
        Scenario.model_validate(scenario)
    problems = {".".join(str(p) for p in e["loc"]): e["msg"] for e in raised.value.errors()}
    assert field in problems
    assert hint in problems[field]


def test_a_server_listed_twice_is_refused():
    from drsctl.emulator import Scenario

    server = {"id": "s-00000000000000001", "hostname": "a"}
    with pytest.raises(ValidationError, match="s-00000000000000001 is listed twice"):
        Scenario.model_validate({"servers": [server, server]})


def test_cli_reports_a_bad_scenario_with_exit_code_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("servers:\n  - {id: s-1, hostname: x}\n")
    result = CliRunner().invoke(app, ["emulator", "--scenario", str(bad), "--port", "0"])
    assert result.exit_code == 2
    assert "servers.0.id" in result.output
    missing = CliRunner().invoke(app, ["emulator", "--scenario", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2
    assert "scenario file not found" in missing.output
