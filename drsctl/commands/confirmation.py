"""What a RECOVERY will launch, shown before its typed confirmation (`drsctl run start --mode recovery`).

Per wave: the Region, the account, how many servers and which (hostnames, the first 10 and how many more) and the
worst replication lag, with tag-selected waves resolved to their servers by asking DRS, exactly as Prepare will
(lambdas/core/prepare.py resolve_waves). Every line is wrapped at words, at most 80 columns wide, in a terminal and
piped: IDs and hostnames are never cut. A plan that Prepare would refuse is refused here, before anything is asked.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.text import Text

from drsctl.commands.common import console, fail_invalid
from drsctl.operate.executions import OperateError

HOSTS_SHOWN = 10
WIDTH_MAX = 80
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def lag_seconds(duration: str | None) -> float | None:
    """DRS's lagDuration (ISO 8601: PT0S, PT1H30M, PT4.25S, P1DT2H) in seconds; None when absent or unreadable."""
    match = _DURATION.match(duration or "")
    if match is None or not duration or duration in ("P", "PT"):
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86_400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


@contextmanager
def _home_account(account: str | None) -> Iterator[None]:
    """Groups that name no Account are the stack's own account's (`account`: drsctl knows it from the stack), as
    Prepare resolves them, unless the environment names it. Without this, resolving them would ask STS for the
    caller's account, at AWS's endpoint even when only DRS's is set (AWS_ENDPOINT_URL_DRS)."""
    from lambdas.core.accounts import ORCHESTRATOR_ACCOUNT

    if not account or os.environ.get(ORCHESTRATOR_ACCOUNT):
        yield
        return
    os.environ[ORCHESTRATOR_ACCOUNT] = account
    try:
        yield
    finally:
        os.environ.pop(ORCHESTRATOR_ACCOUNT, None)


def lag_text(seconds: float) -> str:
    """`0s`, `45s`, `12m05s`, `3h02m`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def wave_lines(plan: dict[str, Any], account: str | None, now: int | None = None) -> list[str]:
    """The confirmation's text, one paragraph per wave; raises OperateError when Prepare would refuse the plan.
    `account`: the stack's own account, where the groups that name no Account are."""
    from lambdas.core.errors import DrsRefusedError, PlanValidationError
    from lambdas.core.plan import RunOptions, parse_plan
    from lambdas.core.plan_version import plan_version
    from lambdas.core.prepare import resolve_waves

    try:
        parsed = parse_plan(plan, "stored plan")
        options = RunOptions.resolve("RECOVERY", parsed.Options)
        with _home_account(account):
            resolution = resolve_waves(parsed, options, "RECOVERY", int(time.time()) if now is None else now)
    except (PlanValidationError, DrsRefusedError) as error:
        problems = getattr(error, "problems", None) or [str(error)]
        raise OperateError(f"plan {plan.get('PlanId')} cannot run: {'; '.join(problems)}") from error
    if resolution.problems:
        raise OperateError(
            f"plan {parsed.PlanId} cannot run ({len(resolution.problems)} problem(s), nothing was started): "
            + "; ".join(resolution.problems)
        )
    lines = [
        f"RECOVERY of plan {parsed.PlanId} ({parsed.Name}), version {plan_version(parsed)}: production recovery "
        f"instances will be launched, wave by wave, in {len(resolution.waves)} wave(s):"
    ]
    for wave, planned in zip(resolution.waves, parsed.Waves, strict=True):
        servers = [resolution.inventory.get(wave.target_of(s), {}).get(s.SourceServerId, {}) for s in wave.Servers]
        tags = [
            ", ".join(f"{key}={value}" for key, value in group.Selector.Tags.items())
            for group in parsed.groups_of(planned)
            if group.Selector is not None
        ]
        chosen = f" (tagged {'; '.join(tags)})" if tags else ""
        lines.append("")
        lines.append(f"wave {wave.WaveNumber}: {wave.WaveName}")
        lines.append(
            f"  Region {wave.Region}, account {_account(servers, account)}: {len(wave.Servers)} server(s){chosen}, "
            f"{_worst_lag(servers, [s.SourceServerId for s in wave.Servers])}"
        )
        names = [server.Hostname or server.SourceServerId for server in wave.Servers]
        shown = ", ".join(names[:HOSTS_SHOWN])
        more = f" and {len(names) - HOSTS_SHOWN} more" if len(names) > HOSTS_SHOWN else ""
        lines.append(f"  {shown}{more}")
    for warning in resolution.warnings:
        lines.append(f"warning: {warning}")
    return lines


def _account(servers: list[dict[str, Any]], home_account: str | None) -> str:
    """The account DRS holds the servers in (from their ARNs), else the stack's own."""
    accounts = sorted({str(s["arn"]).split(":")[4] for s in servers if str(s.get("arn", "")).count(":") >= 5})
    return ", ".join(accounts) or home_account or "unknown"


def _worst_lag(servers: list[dict[str, Any]], ids: list[str]) -> str:
    """`worst replication lag 12m05s (s-...)`, and how many servers do not replicate continuously."""
    worst: tuple[float, str] | None = None
    unknown = 0
    states: dict[str, int] = {}
    for server, server_id in zip(servers, ids, strict=True):
        info = server.get("dataReplicationInfo") or {}
        state = str(info.get("dataReplicationState") or "UNKNOWN")
        if state != "CONTINUOUS":
            states[state] = states.get(state, 0) + 1
        lag = lag_seconds(info.get("lagDuration"))
        if lag is None:
            unknown += 1
        elif worst is None or lag > worst[0]:
            worst = (lag, server_id)
    if worst is None:
        text = "replication lag unknown"
    else:
        text = f"worst replication lag {lag_text(worst[0])}" + (f" ({worst[1]})" if worst[0] > 0 else "")
    if unknown and worst:
        text += f", unknown for {unknown}"
    if states:
        text += "; not continuous: " + ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    return text


def wrap(line: str, width: int) -> list[str]:
    """`line` cut at spaces to `width` columns, continuation lines indented as it is (a word longer than the line,
    an ID or a hostname, is kept whole rather than cut)."""
    indent = " " * (len(line) - len(line.lstrip()))
    return textwrap.wrap(
        line,
        width,
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
        drop_whitespace=True,
    )


def ask_confirmation(plan: dict[str, Any], account: str | None) -> str:
    """Show what a RECOVERY will launch (on stderr) and read the typed confirmation."""
    from lambdas.core.plan import recovery_confirmation

    err = console(stderr=True)
    width = min(err.width, WIDTH_MAX)
    for line in wave_lines(plan, account):
        style = "bold red" if line.startswith("RECOVERY") else "yellow" if line.startswith("warning:") else ""
        for wrapped in wrap(line, width) or [""]:
            err.print(Text(wrapped, style=style), soft_wrap=True)
    expected = recovery_confirmation(plan["PlanId"])
    for wrapped in wrap(f"Type {expected} to start the recovery (anything else cancels):", width):
        err.print(wrapped, soft_wrap=True)
    typed = sys.stdin.readline()
    if typed.strip() != expected:
        raise fail_invalid(
            f"the confirmation was not {expected!r}: nothing was started (scripts pass --confirm {expected!r})"
        )
    return expected
