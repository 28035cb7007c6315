"""Targets met or not, counts and the verdict: added to a report's JSON from its facts (docs/report.md).

The rules, also in docs/plan-format.md: a wave meets the RTO when it ended COMPLETED or PARTIAL at most
RtoTargetMinutes after the execution started (a SKIPPED wave is not judged, any other end misses it); the plan
meets it when it ended COMPLETED or PARTIAL and its last wave ended in time. A launched server meets the RPO when
its recovery point is at most RpoTargetMinutes older than its StartRecovery; a wave when every server of it whose
recovery point is known does, the plan when every wave does. No target: `met` is null.
"""

from __future__ import annotations

from typing import Any

RECOVERED = ("COMPLETED", "PARTIAL")
NOT_LAUNCHED = ("FAILED", "TIMED_OUT", "UNKNOWN")


def targets(options: dict[str, Any]) -> dict[str, float | None]:
    """The plan's targets from its resolved Options (plan, then execution input)."""

    def number(key: str) -> float | None:
        value = options.get(key)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    return {"rtoMinutes": number("RtoTargetMinutes"), "rpoMinutes": number("RpoTargetMinutes")}


OVERHEAD_GOAL = 1.02  # makespan / DRS critical path: what orchestration may add (docs/architecture.md)


def wave_number(wave: dict[str, Any], position: int) -> int:
    """The wave's own number (0 is a number), else its position."""
    number = wave.get("number")
    return int(number) if number is not None else position


def recovered_at(wave: dict[str, Any]) -> float | None:
    """When the wave's part of the service was back: its launch, and the steps after it (DNS, health checks, an
    approval): launched servers are not yet a recovered service."""
    ends = [wave.get("endedAt")] + [s.get("endedAt") for s in wave.get("steps") or [] if s.get("phase") == "AFTER"]
    known = [float(end) for end in ends if end is not None]
    return max(known) if known else None


def complete(report: dict[str, Any]) -> dict[str, Any]:
    """Add `rto`, `rpo`, `serverCounts` and `verdict` (and each wave's and server's share) to a report's facts."""
    goal = report.get("targets") or {}
    rto_target = _seconds(goal.get("rtoMinutes"))
    rpo_target = _seconds(goal.get("rpoMinutes"))
    for wave in report["waves"]:
        for server in wave["servers"]:
            rpo = _server_rpo(server)
            server["rpoSeconds"] = rpo
            server["rpoMet"] = None if rpo is None or rpo_target is None else rpo <= rpo_target
        wave["rto"] = _wave_rto(wave, rto_target)
        known = [s["rpoSeconds"] for s in wave["servers"] if s["rpoSeconds"] is not None]
        wave["rpo"] = {
            "worstSeconds": max(known) if known else None,
            "met": _all_met([s["rpoMet"] for s in wave["servers"]]),
        }
    ended = [at for w in report["waves"] if w["status"] != "SKIPPED" and (at := recovered_at(w)) is not None]
    recovery = max(ended) if ended else None
    rto_met: bool | None = None
    if rto_target is not None:
        rto_met = report["status"] in RECOVERED and recovery is not None and recovery <= rto_target
    worst = [w["rpo"]["worstSeconds"] for w in report["waves"] if w["rpo"]["worstSeconds"] is not None]
    report["rto"] = {"targetSeconds": rto_target, "achievedSeconds": recovery, "met": rto_met}
    report["rpo"] = {
        "targetSeconds": rpo_target,
        "worstSeconds": max(worst) if worst else None,
        "met": _all_met([w["rpo"]["met"] for w in report["waves"]]),
    }
    report["serverCounts"] = server_counts(report)
    report["accounts"] = account_summary(report)
    report["verdict"] = verdict(report)
    return report


def account_summary(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per account (a server is known by account, Region and ID): its Regions, and its servers by outcome."""
    by_account: dict[str | None, list[dict[str, Any]]] = {}
    for wave in report["waves"]:
        for server in wave["servers"]:
            by_account.setdefault(server.get("account"), []).append({**server, "waveRegion": wave.get("region")})
    summary = []
    for account, servers in sorted(by_account.items(), key=lambda item: item[0] or ""):
        statuses = [server["status"] for server in servers]
        known = [s["rpoSeconds"] for s in servers if s.get("rpoSeconds") is not None]
        summary.append(
            {
                "account": account,
                "regions": sorted(
                    {str(s.get("region") or s["waveRegion"]) for s in servers if s.get("region") or s["waveRegion"]}
                ),
                "servers": len(servers),
                "launched": statuses.count("LAUNCHED"),
                "failed": sum(statuses.count(status) for status in NOT_LAUNCHED),
                "skipped": statuses.count("SKIPPED"),
                "worstRpoSeconds": max(known) if known else None,
            }
        )
    return summary


def server_counts(report: dict[str, Any]) -> dict[str, int]:
    statuses = [server["status"] for wave in report["waves"] for server in wave["servers"]]
    launched = statuses.count("LAUNCHED")
    failed = sum(statuses.count(status) for status in NOT_LAUNCHED)
    skipped = statuses.count("SKIPPED")
    return {
        "total": len(statuses),
        "launched": launched,
        "failed": failed,
        "skipped": skipped,
        "other": len(statuses) - launched - failed - skipped,
    }


def verdict(report: dict[str, Any]) -> str:
    """The report in one sentence: how it ended, how many servers came up, and the targets."""
    counts = report["serverCounts"]
    parts = [f"{counts['launched']} of {counts['total']} servers launched"]
    if counts["failed"]:
        parts.append(f"{counts['failed']} failed")
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} skipped")
    sentence = f"The {report['mode'].lower()} ended {report['status']}: {', '.join(parts)}"
    failed = [w for w in report["waves"] if w["status"] not in (*RECOVERED, "SKIPPED")]
    if failed:
        first = failed[0]
        sentence += f"; wave {wave_number(first, report['waves'].index(first) + 1)} ({first['name']}) ended "
        sentence += first["status"]
    elif report["status"] not in RECOVERED:
        sentence += _stopping_step(report)
    return sentence + _targets_sentence(report) + "."


def _targets_sentence(report: dict[str, Any]) -> str:
    """ "; RTO of 45m00s met (recovered at 29m27s, ...); RPO of 15m00s met (worst 0s)": every target the plan set,
    judged or said why not (a plan that did not recover, a drill that launched nothing)."""
    rto, rpo = report["rto"], report["rpo"]
    sentence = ""
    if rto["targetSeconds"] is not None:
        target = duration(rto["targetSeconds"])
        if report["status"] not in RECOVERED:
            sentence += (
                f"; RTO of {target} missed (not recovered: the {report['mode'].lower()} ended {report['status']})"
            )
        elif rto["achievedSeconds"] is None:
            sentence += f"; RTO of {target} missed (no wave was recovered)"
        else:
            took = f"recovered at {duration(rto['achievedSeconds'])}, steps after the waves included"
            sentence += f"; RTO of {target} {'met' if rto['met'] else 'missed'} ({took})"
    if rpo["targetSeconds"] is not None:
        target = duration(rpo["targetSeconds"])
        if rpo["met"] is None:
            sentence += f"; RPO of {target} not judged ({rpo_unjudged_reason(report)})"
        else:
            sentence += f"; RPO of {target} {'met' if rpo['met'] else 'missed'} (worst {duration(rpo['worstSeconds'])})"
    return sentence


def rpo_unjudged_reason(report: dict[str, Any]) -> str:
    """Why an RPO target was not judged: nothing launched, or no recovery point was known."""
    if not report["serverCounts"]["launched"]:
        return "no server launched"
    return "no launched server's recovery point is known"


def duration(seconds: float | None) -> str:
    """1h02m03s, 4m05s, 6s; '-' when unknown."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _seconds(minutes: Any) -> float | None:
    return None if minutes is None else round(float(minutes) * 60, 1)


def _stopping_step(report: dict[str, Any]) -> str:
    """ "; step X before wave N (name) ended REJECTED": the runbook step that stopped the plan, if one did."""
    for index, wave in enumerate(report["waves"], start=1):
        for step in wave.get("steps") or []:
            if step.get("status") in ("FAILED", "REJECTED", "TIMED_OUT"):
                where = "before" if step.get("phase") == "BEFORE" else "after"
                said = ""
                if step["status"] == "REJECTED":
                    said = f" (rejected by {step.get('decidedBy') or 'an approver not recorded'}"
                    said += f': "{step["reason"]}")' if step.get("reason") else ", no reason recorded)"
                return (
                    f"; step {step.get('name')!r} {where} wave {wave_number(wave, index)} ({wave['name']}) ended "
                    f"{step['status']}{said}"
                )
    return ""


def _server_rpo(server: dict[str, Any]) -> float | None:
    point, started = server.get("recoveryPointAt"), server.get("startedAt")
    launched = server["status"] == "LAUNCHED" or server.get("error") == "LAUNCHED_BEFORE"  # by the run it resumed
    if not launched or point is None or started is None:
        return None
    return round(max(0.0, float(started) - float(point)), 1)


def _wave_rto(wave: dict[str, Any], target: float | None) -> dict[str, Any]:
    ended = recovered_at(wave) if wave["status"] in RECOVERED else None
    judged = target is not None and wave["status"] != "SKIPPED"
    met = (ended is not None and target is not None and ended <= target) if judged else None
    return {"achievedSeconds": ended, "met": met}


def _all_met(values: list[bool | None]) -> bool | None:
    known = [value for value in values if value is not None]
    return all(known) if known else None
