"""A plan's version: one canonical JSON shared by drsctl and the Lambdas, and Prepare writing it (and who started the
execution) on the record, for a stored plan and for the same plan inline."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
import yaml

from drsctl.emulator import Scenario
from drsctl.local.rehearsal import local_aws
from drsctl.operate.plans import as_yaml, diff_lines, normalised, version_of
from lambdas.core.errors import PlanValidationError
from lambdas.core.plan import parse_execution_input, parse_plan
from lambdas.core.plan_version import canonical_json, plan_version
from tests.workflow.conftest import load, run, three_tier_scenario, three_wave_plan

MINIMAL = {
    "PlanId": "p",
    "Name": "Ünïcode",
    "ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1", "SourceServerIds": ["s-00000000000000001"]}],
    "Waves": [{"WaveName": "w", "ProtectionGroupId": "g"}],
    "Options": {"ExpectedJobMinutes": 9.0},
}
# The minimal plan as the model reads it, written out: sorted keys, no whitespace, UTF-8 as is, whole numbers bare.
CANONICAL = (
    '{"Name":"Ünïcode","Options":{"ExpectedJobMinutes":9},"PlanId":"p","ProtectionGroups":[{"GroupId":"g",'
    '"Region":"us-east-1","SourceServerIds":["s-00000000000000001"]}],"Waves":[{"After":[],"Before":[],'
    '"Impact":"CRITICAL","ProtectionGroupId":"g","ServerImpact":{},"WaveName":"w"}]}'
)


def test_the_version_is_the_sha256_of_the_canonical_json():
    plan = parse_plan(MINIMAL)
    from lambdas.core.plan_version import canonical_plan

    assert canonical_json(canonical_plan(plan)).decode() == CANONICAL
    assert plan_version(plan) == hashlib.sha256(CANONICAL.encode()).hexdigest()[:12]


def test_what_does_not_change_the_plan_does_not_change_its_version():
    base = plan_version(parse_plan(MINIMAL))
    reordered = dict(reversed(list(copy.deepcopy(MINIMAL).items())))
    spelled_out = copy.deepcopy(MINIMAL)
    spelled_out["Waves"][0].update(Impact="CRITICAL", Before=[], After=[])
    spelled_out["Options"]["ExpectedJobMinutes"] = 9  # DynamoDB keeps 9.0 as 9
    unused_group = copy.deepcopy(MINIMAL)
    unused_group["ProtectionGroups"].append(
        {"GroupId": "other", "Region": "us-west-2", "Selector": {"Tags": {"a": "b"}}}
    )
    as_yaml = yaml.safe_load(yaml.safe_dump(MINIMAL, default_flow_style=True))
    for same in (reordered, spelled_out, unused_group, as_yaml):
        assert plan_version(parse_plan(same)) == base
    for changed in (
        {**MINIMAL, "Name": "Unicode"},
        {**MINIMAL, "Options": {"ExpectedJobMinutes": 9.5}},
        {**MINIMAL, "Waves": [{"WaveName": "w", "ProtectionGroupId": "g", "Impact": "OPTIONAL"}]},
    ):
        assert plan_version(parse_plan(changed)) != base
    # drsctl reads the same version from the plan file as from its stored form
    assert version_of(MINIMAL) == base == version_of(normalised(MINIMAL))


def test_the_diff_keeps_the_plan_file_order_and_is_empty_for_the_same_version():
    assert diff_lines(MINIMAL, dict(reversed(list(MINIMAL.items()))), "p", "file") == []
    lines = diff_lines(MINIMAL, {**MINIMAL, "Name": "Other"}, "p", "p.yaml")
    assert lines[:2] == ["--- stored plan p", "+++ p.yaml"]
    assert "-Name: Ünïcode" in lines and "+Name: Other" in lines
    body = [line[1:] for line in lines[3:]]
    assert body.index("PlanId: p") < body.index("Name: Ünïcode")  # the model's (the file's) order, not sorted
    assert "  - WaveName: w\n" in as_yaml(normalised(MINIMAL))  # lists indented under their key, as in plan files
    assert diff_lines(None, MINIMAL, "p", "p.yaml")[0] == "--- (no stored plan)"


def test_started_by_is_an_aws_principal_arn():
    started = {"PlanId": "p", "ExecutionType": "DRILL"}
    for arn in (
        "arn:aws:iam::123456789012:user/ops/alice",
        "arn:aws:sts::123456789012:assumed-role/DrOperator/alice@example.com",
        "arn:aws-us-gov:iam::123456789012:root",
    ):
        assert parse_execution_input({**started, "StartedBy": arn}).StartedBy == arn
    for wrong in ("alice", "arn:aws:iam::12345:user/x", "arn:aws:s3:::bucket", "x" * 2000, 7):
        with pytest.raises(PlanValidationError) as refused:
            parse_execution_input({**started, "StartedBy": wrong})
        assert refused.value.problems[0].startswith("StartedBy: ")


def test_prepare_records_the_plan_version_and_who_started_it():
    caller = "arn:aws:sts::123456789012:assumed-role/DrOperator/alice"
    plan = three_wave_plan()
    with local_aws(Scenario.model_validate(three_tier_scenario())) as aws:
        stored = load(aws, plan)
        described, _ = run(aws, {"PlanId": "shop", "ExecutionType": "DRILL", "StartedBy": caller}, "stored-1")
        assert described["status"] == "SUCCEEDED"
        record = aws.record("stored-1", "shop")
        assert record.PlanVersion == plan_version(stored) and record.StartedBy == caller
        inline = json.loads(json.dumps(plan))
        inline["Waves"] = list(inline["Waves"])
        run(aws, {"Plan": inline, "ExecutionType": "DRILL"}, "inline-1")
        again = aws.record("inline-1", "shop")
        assert again.PlanVersion == record.PlanVersion and again.StartedBy is None
