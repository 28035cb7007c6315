"""The plan model: the example is valid, and every static problem is refused with a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lambdas.core.errors import PlanValidationError
from lambdas.core.plan import OptionsOverride, RunOptions, parse_execution_input, parse_plan

ROOT = Path(__file__).resolve().parents[2]
A, B, C = "s-00000000000000001", "s-00000000000000002", "s-00000000000000003"


def plan(**changes):
    base = {
        "PlanId": "p1",
        "Name": "Plan",
        "ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1", "SourceServerIds": [A, B, C]}],
        "Waves": [
            {"WaveName": "w1", "ProtectionGroupId": "g", "ServerIds": [A]},
            {"WaveName": "w2", "ProtectionGroupId": "g", "ServerIds": [B, C]},
        ],
    }
    base.update(changes)
    return base


def test_the_example_plan_has_three_waves_one_in_a_second_region():
    parsed = parse_plan(yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text()))
    assert [w.WaveName for w in parsed.Waves] == ["databases", "application", "web"]
    regions = [parsed.group(w.ProtectionGroupId).Region for w in parsed.Waves]
    assert regions == ["us-east-1", "us-east-1", "us-west-2"]


def _problems(raw) -> str:
    with pytest.raises(PlanValidationError) as raised:
        parse_plan(raw)
    return str(raised.value)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"Waves": []}, "Waves: List should have at least 1 item"),
        ({"PlanId": "has space"}, "PlanId: String should match pattern"),
        ({"Waves": [{"WaveName": "w", "ProtectionGroupId": "nope"}]}, "ProtectionGroupId 'nope' is not defined"),
        ({"Waves": [{"WaveName": "w", "ProtectionGroupId": "g", "ServerIds": ["s-1"]}]}, "Waves.0.ServerIds.0"),
        ({"Waves": [{"WaveName": "w", "ProtectionGroupId": "g", "Impact": "MAYBE"}]}, "Waves.0.Impact"),
        (
            {
                "Waves": [
                    {"WaveName": "w", "ProtectionGroupId": "g"},
                    {"WaveName": "w", "ProtectionGroupId": "g", "ServerIds": [A]},
                ]
            },
            "WaveName 'w' is used twice",
        ),
        (
            {
                "Waves": [
                    {"WaveName": "a", "ProtectionGroupId": "g", "ServerIds": [A]},
                    {"WaveName": "b", "ProtectionGroupId": "g", "ServerIds": [A]},
                ]
            },
            f"server {A} is already launched by wave 1 ('a')",
        ),
        (
            {"Waves": [{"WaveName": "w", "ProtectionGroupId": "g", "ServerIds": ["s-0000000000000000x"]}]},
            "is not in protection group 'g'",
        ),
        (
            {"Waves": [{"WaveName": "w", "ProtectionGroupId": "g", "ServerIds": [A], "ServerImpact": {B: "OPTIONAL"}}]},
            f"ServerImpact names {B}",
        ),
        ({"ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1"}]}, "exactly one of SourceServerIds or Selector"),
        (
            {"ProtectionGroups": [{"GroupId": "g", "Region": "mars-1", "SourceServerIds": [A]}]},
            "ProtectionGroups.0.Region",
        ),
        (
            {"Options": {"PollIntervalSeconds": 1}},
            "Options.PollIntervalSeconds: Input should be greater than or equal to 5",
        ),
        ({"Extra": 1}, "Extra: Extra inputs are not permitted"),
    ],
)
def test_static_problems_name_the_field(changes, expected):
    assert expected in _problems(plan(**changes))


def test_every_problem_is_reported_at_once():
    text = _problems(plan(PlanId="bad id", Waves=[{"WaveName": "w", "ProtectionGroupId": "g", "Impact": "NO"}]))
    assert "PlanId" in text and "Waves.0.Impact" in text


def test_execution_input_needs_exactly_one_plan():
    with pytest.raises(PlanValidationError, match="exactly one of PlanId"):
        parse_execution_input({"ExecutionType": "DRILL"})
    with pytest.raises(PlanValidationError, match="exactly one of PlanId"):
        parse_execution_input({"ExecutionType": "DRILL", "PlanId": "p1", "Plan": plan()})
    with pytest.raises(PlanValidationError, match="ExecutionType: Input should be 'DRILL' or 'RECOVERY'"):
        parse_execution_input({"PlanId": "p1", "ExecutionType": "drill"})


def test_options_merge_defaults_plan_then_execution():
    parsed = parse_execution_input(
        {
            "Plan": plan(Options={"PollIntervalSeconds": 60, "WaveTimeoutMinutes": 45}),
            "ExecutionType": "RECOVERY",
            "Options": {"WaveTimeoutMinutes": 30},
        }
    )
    options = RunOptions.resolve(parsed.ExecutionType, parsed.Plan.Options, parsed.Options)
    assert (options.PollIntervalSeconds, options.WaveTimeoutMinutes, options.ExpectedJobMinutes) == (60, 30, 13.0)


def test_min_interval_above_max_is_refused():
    with pytest.raises(PlanValidationError, match="MinPollIntervalSeconds"):
        RunOptions.resolve(
            "DRILL", parse_plan(plan(Options={"PollIntervalSeconds": 10, "MinPollIntervalSeconds": 20})).Options
        )


def test_max_servers_per_job_is_at_most_the_drs_quota_of_100():
    with pytest.raises(PlanValidationError, match=r"Options.MaxServersPerJob"):
        parse_execution_input({"PlanId": "p", "ExecutionType": "DRILL", "Options": {"MaxServersPerJob": 101}})


def test_an_expected_job_time_past_the_wave_timeout_is_refused_only_when_set():
    with pytest.raises(
        PlanValidationError, match=r"ExpectedJobMinutes \(30\) is greater than Options.WaveTimeoutMinutes \(20\)"
    ):
        RunOptions.resolve("DRILL", OptionsOverride(WaveTimeoutMinutes=20, ExpectedJobMinutes=30))
    # The mode's default (13 min for a RECOVERY) never makes a plan with a short timeout fail at recovery time.
    assert RunOptions.resolve("RECOVERY", OptionsOverride(WaveTimeoutMinutes=10)).ExpectedJobMinutes == 10


def test_plans_store_fractional_numbers_as_dynamodb_decimals():
    from decimal import Decimal

    from lambdas.core.records import to_item

    assert to_item({"Options": {"ExpectedJobMinutes": 9.5}, "Waves": [1.25]}) == {
        "Options": {"ExpectedJobMinutes": Decimal("9.5")},
        "Waves": [Decimal("1.25")],
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"PollIntervalSeconds": True}, "Options.PollIntervalSeconds: should be a number, not true"),
        ({"PollIntervalSeconds": "30"}, "Options.PollIntervalSeconds: should be a number, not the text '30'"),
        ({"ExpectedJobMinutes": "9.5"}, "Options.ExpectedJobMinutes: should be a number, not the text '9.5'"),
        ({"MaxServersPerJob": False}, "Options.MaxServersPerJob: should be a number, not false"),
        ({"AllowUnhealthyReplication": "yes"}, "Options.AllowUnhealthyReplication: should be true or false"),
        ({"AllowUnhealthyReplication": 1}, "Options.AllowUnhealthyReplication: should be true or false"),
    ],
)
def test_numbers_and_booleans_are_strict(options, expected):
    assert expected in _problems(plan(Options=options))


def test_numbers_stored_in_dynamodb_come_back_as_decimals_and_still_load():
    from decimal import Decimal

    parsed = parse_plan(
        plan(
            Options={"PollIntervalSeconds": Decimal("60"), "ExpectedJobMinutes": Decimal("9.5"), "MaxServersPerJob": 10}
        )
    )
    assert parsed.Options is not None
    assert (parsed.Options.PollIntervalSeconds, parsed.Options.ExpectedJobMinutes) == (60, 9.5)
    assert parsed.Options.MaxServersPerJob == 10


def test_each_static_problem_is_its_own_line_under_the_file_name():
    with pytest.raises(PlanValidationError) as raised:
        parse_plan(
            plan(
                Waves=[
                    {"WaveName": "w", "ProtectionGroupId": "nope"},
                    {"WaveName": "w", "ProtectionGroupId": "g", "ServerIds": [A]},
                ]
            ),
            "plan.yaml",
        )
    assert raised.value.problems == [
        "plan.yaml: Waves: WaveName 'w' is used twice; wave names must be unique",
        "plan.yaml: wave 1 ('w'): ProtectionGroupId 'nope' is not defined; define it under ProtectionGroups or use "
        "one of g",
    ]


@pytest.mark.parametrize(("raw", "found"), [(None, "is empty"), ([1], "is a list"), ("PlanId", "is plain text")])
def test_a_plan_that_is_not_a_mapping_says_what_a_plan_needs(raw, found):
    with pytest.raises(PlanValidationError) as raised:
        parse_plan(raw, "plan.yaml")
    assert raised.value.problems == [
        f"plan.yaml {found}"
        + (", not a mapping of fields" if raw is not None else "")
        + ": a plan needs PlanId, Name, ProtectionGroups and Waves"
    ]


def _with_steps(before=None, after=None, **changes):
    raw = plan(**changes)
    raw["Waves"][0]["Before"] = before or []
    raw["Waves"][0]["After"] = after or []
    return raw


@pytest.mark.parametrize(
    ("step", "says"),
    [
        ({}, "needs exactly one of Lambda, Approval, HealthCheck or Wait; it has none"),
        ({"Wait": {"Minutes": 5}, "Approval": {"Message": "m"}}, "it has Approval and Wait"),
        ({"Lambda": {"FunctionName": "drs-hook-x", "TimeoutMinutes": 30}}, "set WaitForCallback: true"),
        ({"Lambda": {"FunctionName": "not a name"}}, "Waves.0.Before.0.Lambda.FunctionName"),
        ({"HealthCheck": {"PostLaunchActions": False, "InstanceStatus": False}}, "needs PostLaunchActions or"),
        ({"Wait": {"Minutes": 0}}, "Waves.0.Before.0.Wait.Minutes"),
        ({"Wait": {"Minutes": "5"}}, "not the text '5'"),
        ({"Approval": {"Message": "m", "OnTimeout": "IGNORE"}}, "Waves.0.Before.0.Approval.OnTimeout"),
    ],
)
def test_a_bad_step_is_refused_naming_the_field(step, says):
    assert says in _problems(_with_steps(before=[step]))


def test_a_phase_holds_at_most_ten_steps():
    assert "Waves.0.After" in _problems(_with_steps(after=[{"Wait": {"Minutes": 1}}] * 11))


def test_steps_parse_with_their_defaults_and_labels():
    parsed = parse_plan(
        _with_steps(
            before=[{"Lambda": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:drs-hook-db:live"}}],
            after=[{"Name": "Ask the DBA", "Approval": {"Message": "ok?"}}],
        )
    )
    hook, approval = parsed.Waves[0].Before[0], parsed.Waves[0].After[0]
    assert (hook.kind, hook.label, hook.Lambda.Impact, hook.timeout_seconds) == (
        "Lambda",
        "Lambda drs-hook-db:live",
        "CRITICAL",
        900,
    )
    assert (approval.label, approval.Approval.OnTimeout, approval.timeout_seconds) == ("Ask the DBA", "FAIL", 3600)
    assert parsed.runbook_step_count() == 2 and parsed.runbook_seconds() == 4500


def test_runbook_steps_are_refused_when_they_leave_the_waves_no_history_to_check_them():
    from lambdas.core import limits
    from lambdas.core.records import ServerRecord, WaveRecord

    waits = [{"Wait": {"Minutes": 1}}] * 10
    raw = plan(
        ProtectionGroups=[{"GroupId": "g", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}}],
        Waves=[{"WaveName": f"w{n}", "ProtectionGroupId": "g", "Before": waits, "After": waits} for n in range(100)],
    )
    parsed = parse_plan(raw)
    waves = [
        WaveRecord(
            WaveNumber=n + 1,
            WaveName=f"w{n}",
            ProtectionGroupId="g",
            Region="us-east-1",
            Servers=[ServerRecord(SourceServerId=f"s-{n:017d}")],
        )
        for n in range(100)
    ]
    problems = limits.problems(parsed, waves, RunOptions(WaveTimeoutMinutes=5, ExpectedJobMinutes=2))
    assert any("its 2000 runbook steps" in p and "too few" in p for p in problems), problems


def test_steps_that_alone_pass_48_hours_are_refused_naming_the_steps():
    from lambdas.core import limits

    approvals = [{"Approval": {"Message": "ok?", "TimeoutMinutes": 1440}}] * 10
    raw = plan(Waves=[{"WaveName": "w1", "ProtectionGroupId": "g", "ServerIds": [A], "Before": approvals}])
    waves = [_one_server_wave("w1")]
    parsed = parse_plan(raw)
    problems = limits.problems(parsed, waves, RunOptions())
    # each approval at its worst under its Retry (1440 min, and its request retried 6 times), and the 11 calls of Next
    # runbook step around them (tests/lambdas/test_limits.py derives both from the definition)
    runbook = limits.worst_case(parsed, waves, RunOptions()).runbook
    assert runbook > 10 * 1440 * 60
    assert any(f"{runbook / 3600:.1f} h of runbook steps" in p and "Lower the runbook steps'" in p for p in problems)


def test_a_hook_arn_in_another_account_or_region_is_refused(monkeypatch):
    from lambdas.core import limits

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("HOOK_FUNCTION_ACCOUNT", "123456789012")
    hooks = [
        {"Lambda": {"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:drs-hook-x"}},
        {"Lambda": {"FunctionName": "arn:aws:lambda:us-east-1:999999999999:function:drs-hook-x"}},
        {"Lambda": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:drs-hook-x:live"}},
    ]
    raw = plan(Waves=[{"WaveName": "w1", "ProtectionGroupId": "g", "ServerIds": [A], "After": hooks}])
    waves = [_one_server_wave("w1")]
    problems = [p for p in limits.problems(parse_plan(raw), waves, RunOptions()) if "may invoke hooks in" in p]
    assert [p.split(":", 1)[0] for p in problems] == [
        "plan 'p1', wave 1 ('w1'), After[0]",
        "plan 'p1', wave 1 ('w1'), After[1]",
    ]


def _one_server_wave(name: str):
    """Wave 1 as Prepare resolves it, with server A: what limits.problems checks."""
    from lambdas.core.records import ServerRecord, WaveRecord

    return WaveRecord(
        WaveNumber=1, WaveName=name, ProtectionGroupId="g", Region="us-east-1", Servers=[ServerRecord(SourceServerId=A)]
    )


def test_a_hook_whose_event_could_pass_256_kib_is_refused_by_its_bytes_not_its_server_count():
    from lambdas.core import limits
    from lambdas.core.records import ServerRecord

    raw = plan(
        ProtectionGroups=[{"GroupId": "g", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}}],
        Waves=[{"WaveName": "w1", "ProtectionGroupId": "g", "After": [{"Lambda": {"FunctionName": "drs-hook-x"}}]}],
    )
    options = RunOptions(MaxServersInActiveJobs=2000)
    wave = _one_server_wave("w1")
    # 1,000 servers with 160-character hostnames: the hook's event alone is about 320 KB
    wave.Servers = [ServerRecord(SourceServerId=f"s-{n:017d}", Hostname="h" * 160) for n in range(1_000)]
    (problem,) = [p for p in limits.problems(parse_plan(raw), [wave], options) if "256 KiB" in p]
    assert problem.startswith("plan 'p1': the state of wave 1 ('w1'), After[0] ('Lambda drs-hook-x') could reach ")
    assert "lists the wave's 1000 servers with their hostnames and recovery instances" in problem
    assert "split the wave" in problem
    # The same 1,000 servers with 10-character hostnames fit
    wave.Servers = [ServerRecord(SourceServerId=f"s-{n:017d}", Hostname="h" * 10) for n in range(1_000)]
    assert not [p for p in limits.problems(parse_plan(raw), [wave], options) if "256 KiB" in p]
