"""Scenario keys for rehearsing plan steps: per-server postLaunch and instanceStatus, top-level functions and
approvals. Data only here: errors name the field, defaults are the documented ones."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drsctl.emulator import Scenario

SERVER = {"id": "s-00000000000000001", "hostname": "a"}


@pytest.mark.parametrize(
    ("scenario", "field", "hint"),
    [
        ({"servers": [{**SERVER, "postLaunch": {"result": "FAILED"}}]}, "servers.0.postLaunch.seconds", "required"),
        (
            {"servers": [{**SERVER, "postLaunch": {"seconds": 5, "result": "PASSED"}}]},
            "servers.0.postLaunch.result",
            "'SUCCEEDED' or 'FAILED'",
        ),
        ({"servers": [{**SERVER, "postLaunch": {"seconds": -1}}]}, "servers.0.postLaunch.seconds", ">= 0"),
        (
            {"servers": [{**SERVER, "instanceStatus": {"seconds": 5, "result": "failed"}}]},
            "servers.0.instanceStatus.result",
            "'ok' or 'impaired'",
        ),
        (
            {"servers": [{**SERVER, "instanceStatus": {"seconds": 5, "after": 3}}]},
            "servers.0.instanceStatus.after",
            "Extra inputs",
        ),
        ({"functions": {"promote db": {"seconds": 1}}}, "functions.promote db.[key]", "pattern"),
        ({"functions": {"promote": {"seconds": -1}}}, "functions.promote.seconds", ">= 0"),
        ({"functions": {"promote": {"error": "Bad Name"}}}, "functions.promote.error", "pattern"),
        ({"functions": {"promote": {"error": "States.Timeout"}}}, "functions.promote.error", "reserved"),
        ({"functions": {"promote": {"output": [1, 2]}}}, "functions.promote.output", "dictionary"),
        ({"functions": {"promote": {"error": "Failed", "output": {}}}}, "functions.promote", "not both"),
        ({"functions": {"promote": {"retries": 2}}}, "functions.promote.retries", "Extra inputs"),
        ({"approvals": [{"wave": "db"}]}, "approvals.0.decision", "required"),
        ({"approvals": [{"decision": "MAYBE"}]}, "approvals.0.decision", "'APPROVE' or 'REJECT'"),
        ({"approvals": [{"decision": "APPROVE", "afterSeconds": -5}]}, "approvals.0.afterSeconds", ">= 0"),
        ({"approvals": [{"decision": "APPROVE", "wave": ""}]}, "approvals.0.wave", "at least 1 character"),
        (
            {"approvals": [{"decision": "APPROVE", "wave": "db"}, {"decision": "REJECT", "wave": "db"}]},
            "",
            "two entries for wave 'db'",
        ),
        ({"approvals": [{"decision": "APPROVE"}, {"decision": "REJECT"}]}, "", "two entries for every wave"),
    ],
)
def test_invalid_hook_keys_name_the_field(scenario, field, hint):
    with pytest.raises(ValidationError) as raised:
        Scenario.model_validate(scenario)
    problems = {".".join(str(p) for p in e["loc"]): e["msg"] for e in raised.value.errors()}
    assert field in problems, problems
    assert hint in problems[field].replace("greater than or equal to", ">="), problems[field]


def test_hook_keys_have_their_documented_defaults():
    scenario = Scenario.model_validate(
        {
            "servers": [{**SERVER, "postLaunch": {"seconds": 30}, "instanceStatus": {"seconds": 60}}],
            "functions": {"drs-hook-promote": {}, "drs-hook-fail": {"seconds": 5, "error": "PromotionFailed"}},
        }
    )
    [server] = scenario.servers
    assert (server.postLaunch.seconds, server.postLaunch.result) == (30, "SUCCEEDED")
    assert (server.instanceStatus.seconds, server.instanceStatus.result) == (60, "ok")
    promote = scenario.functions["drs-hook-promote"]
    assert (promote.seconds, promote.error, promote.output) == (0, None, None)
    assert scenario.functions["drs-hook-fail"].error == "PromotionFailed"
    assert scenario.approvals == []
    empty = Scenario.model_validate({"servers": [SERVER]})
    assert (empty.servers[0].postLaunch, empty.servers[0].instanceStatus, empty.functions) == (None, None, {})


def test_an_approval_is_answered_by_its_wave_then_the_catch_all_then_at_once():
    approvals = [
        {"wave": "db", "decision": "REJECT", "afterSeconds": 600},
        {"decision": "APPROVE", "afterSeconds": 30},
    ]
    scenario = Scenario.model_validate({"approvals": approvals})
    assert (scenario.approval_for("db").decision, scenario.approval_for("db").afterSeconds) == ("REJECT", 600)
    assert (scenario.approval_for("web").decision, scenario.approval_for("web").afterSeconds) == ("APPROVE", 30)
    default = Scenario.model_validate({"approvals": [{"wave": "db", "decision": "REJECT"}]}).approval_for("app")
    assert (default.decision, default.afterSeconds, default.wave) == ("APPROVE", 0, None)
    assert Scenario.model_validate({}).approval_for("db").decision == "APPROVE"
