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
        (
            {"faults": [{"operation": "DescribeJobs", "error": "ThrottlingException", "count": 2, "seconds": 9}]},
            "faults.0.seconds",
            "either count or seconds",
        ),
        (
            {"faults": [{"operation": "DescribeJobs", "error": "ThrottlingException", "after": 60}]},
            "faults.0.after",
            "give seconds with it",
        ),
        (
            {"faults": [{"operation": "DescribeJobs", "error": "ThrottlingException", "seconds": 0}]},
            "faults.0.seconds",
            "greater than 0",
        ),
        (
            {"faults": [{"operation": "DescribeJobs", "error": "ThrottlingException", "seconds": 9, "after": -1}]},
            "faults.0.after",
            "greater than or equal to 0",
        ),
        (
            {"faults": [{"operation": "*", "error": "ThrottlingException", "message": ""}]},
            "faults.0.message",
            "at least 1 character",
        ),
        (
            {"faults": [{"operation": "DescribeJobs", "error": "ThrottlingException", "duration": 9}]},
            "faults.0.duration",
            "Extra inputs are not permitted",
        ),
        ({"faults": [{"operation": "Describe*", "error": "ThrottlingException"}]}, "faults.0.operation", "use *"),
        ({"externalJobs": [{"servers": 2}]}, "externalJobs.0.seconds", "Field required"),
        ({"externalJobs": [{"seconds": 0}]}, "externalJobs.0.seconds", "greater than 0"),
        ({"externalJobs": [{"seconds": 9, "servers": 101}]}, "externalJobs.0.servers", "less than or equal to 100"),
        ({"externalJobs": [{"seconds": 9, "servers": 0}]}, "externalJobs.0.servers", "greater than or equal to 1"),
        ({"externalJobs": [{"seconds": 9, "after": -5}]}, "externalJobs.0.after", "greater than or equal to 0"),
        ({"externalJobs": [{"seconds": 9, "region": "mars"}]}, "externalJobs.0.region", "pattern"),
        ({"externalJobs": [{"seconds": 9, "count": 2}]}, "externalJobs.0.count", "Extra inputs are not permitted"),
        (
            {"servers": [{"id": "s-00000000000000001", "hostname": "a", "lagSeconds": -1}]},
            "servers.0.lagSeconds",
            "greater than or equal to 0",
        ),
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


def test_new_keys_are_optional_and_have_their_documented_defaults():
    from drsctl.emulator import Scenario

    scenario = Scenario.model_validate(
        {
            "servers": [
                {"id": "s-00000000000000001", "hostname": "a"},
                {"id": "s-00000000000000002", "hostname": "b", "replication": "STALLED"},
                {"id": "s-00000000000000003", "hostname": "c", "replication": "STALLED", "lagSeconds": 0},
                {"id": "s-00000000000000004", "hostname": "d", "faults": ["job_ends_without_launch"]},
            ],
            "externalJobs": [{"seconds": 60}],
        }
    )
    assert [server.lag for server in scenario.servers] == [0, 3600, 0, 0]
    [external] = scenario.externalJobs
    assert (external.region, external.servers, external.after, external.tags) == (
        None,
        1,
        0,
        {"ManagedBy": "another-tool"},
    )
    assert scenario.region_of(external) == "us-east-1"
    assert Scenario.model_validate({}).externalJobs == []
