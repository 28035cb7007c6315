"""A drill's cleanup as `run show`, `run list` and `run watch` tell it, from the execution's record alone.

States (lower case, as read): planned (the drill runs; AfterMinutes after its end), waiting (until a time),
terminating n/m, done, kept (OnFailure KEEP), not run (stopped or timed out before it ran), failed, and for a drill
without DrillCleanup: none. A drill that ended with instances up says how many and names `drsctl run cleanup`; one a
resume took over (ResumedBy) names the resume's, which terminates them with its own.
"""

from __future__ import annotations

from typing import Any

from drsctl.stamps import utc
from lambdas.core.records import ACTIVE_EXECUTION_STATUSES, ExecutionRecord

LEFT_UP = ("KEPT", "NOT_RUN", "FAILED")  # cleanups that leave the drill's instances up


def _clock(epoch: float | None) -> str:
    return utc(epoch, date=False) if epoch else "-"


def cleanup_view(record: ExecutionRecord | None) -> dict[str, Any] | None:  # noqa: PLR0911 - one per state
    """`{state, short, text, at, terminated, instances}` for a DRILL's record; None for a RECOVERY or no record.

    `instances`: the drill instances its servers launched (the record's counts); `terminated`: those its cleanup
    ended; `at`: when a waiting cleanup terminates them (epoch seconds), or when it ended."""
    if record is None or record.ExecutionType != "DRILL":
        return None
    name = record.ExecutionId
    instances = sum(wave.Launched for wave in record.Waves)
    running = record.Status in ACTIVE_EXECUTION_STATUSES
    # servers still in a DRS launch job when the execution ended (a stop, a timeout): DRS finishes those launches,
    # so their drill instances may come up after the end, with no cleanup of the execution's to terminate them
    launching = 0 if running else sum(wave.Unknown for wave in record.Waves)
    cleanup = record.Cleanup
    if record.ResumedBy and not running and (cleanup is None or cleanup.Status in LEFT_UP):
        return _taken_over(record, record.ResumedBy, instances)
    run_cleanup = f"drsctl run cleanup {name} terminates them"
    up = f"{instances} drill instance(s) still up"
    if launching:
        up = (f"{up}, " if instances else "") + (
            f"{launching} server(s) still in DRS launch jobs when it ended (their drill instances may be up)"
        )
    if record.ResumedFrom and not running:  # its cleanup also ends the instances it took over (LAUNCHED_BEFORE)
        taken = f"the drill instances it took over from {record.ResumedFrom}"
        up = f"{up}, and {taken}" if instances or launching else f"{taken} still up"
    if cleanup is None:
        if running:
            return _view("none", "none planned", "none planned (the plan has no Options.DrillCleanup)", instances)
        if not instances and not launching and not record.ResumedFrom:
            return _view("none", "none", "none (no drill instance was launched)", instances)
        short = ", ".join(
            [
                "none",
                *([f"{instances} up"] if instances else []),
                *([f"{launching} launching"] if launching else []),
                *([f"those of {record.ResumedFrom} up"] if record.ResumedFrom else []),
            ]
        )
        return _view("none", short, f"none planned: {up}; {run_cleanup}", instances)
    terminated = cleanup.Terminated
    if cleanup.Status == "PLANNED":
        text = f"planned: {cleanup.AfterMinutes} min after the drill ends (OnFailure {cleanup.OnFailure})"
        return _view("planned", f"planned +{cleanup.AfterMinutes}m", text, instances)
    if cleanup.Status == "WAITING":
        at = (record.EndTime or 0) + cleanup.AfterMinutes * 60 if record.EndTime else None
        text = f"waiting: terminates the drill's {instances} instance(s) at {_clock(at)}"
        return _view("waiting", f"waiting until {_clock(at)}", text, instances, at=at)
    if cleanup.Status == "TERMINATING":
        text = f"terminating {terminated}/{instances} drill instance(s) (since {_clock(cleanup.StartedAt)})"
        return _view("terminating", f"terminating {terminated}/{instances}", text, instances, terminated=terminated)
    if cleanup.Status == "COMPLETED":
        text = f"done: {terminated} drill instance(s) terminated at {_clock(cleanup.EndedAt)}"
        return _view("done", "done", text, instances, terminated=terminated, at=cleanup.EndedAt)
    left = max(instances - terminated, 0)
    word = {"KEPT": "kept", "NOT_RUN": "not run", "FAILED": "failed"}.get(cleanup.Status, cleanup.Status.lower())
    why = {
        "KEPT": f"the drill ended {record.Status} and its plan keeps the instances to investigate (OnFailure KEEP)",
        "NOT_RUN": f"the execution ended {record.Status} before its cleanup ran",
        "FAILED": (cleanup.Detail or "the cleanup failed").split(" What to do:", 1)[0],
    }.get(cleanup.Status, cleanup.Detail or "")
    maybe = f", {launching} more from launch jobs still running when it ended" if launching else ""
    text = f"{word}: {why}; {left} drill instance(s){maybe} may still be up: {run_cleanup}"
    return _view(word, f"{word}, {left + launching} up", text, instances, terminated=terminated)


def _taken_over(record: ExecutionRecord, resumed_by: str, instances: int) -> dict[str, Any]:
    """A drill resumed by another execution: the resume took its launched servers over (LAUNCHED_BEFORE), and the
    resume's cleanup (its own DrillCleanup, or `drsctl run cleanup` of it) terminates their instances."""
    text = (
        f"taken over: {resumed_by} resumed it, with its {instances} drill instance(s); drsctl run cleanup "
        f"{resumed_by} terminates them once it has ended"
    )
    return _view("taken over", f"taken over by {resumed_by}", text, instances)


def _view(
    state: str, short: str, text: str, instances: int, *, terminated: int = 0, at: float | None = None
) -> dict[str, Any]:
    return {"state": state, "short": short, "text": text, "at": at, "terminated": terminated, "instances": instances}


def instances_left_up(view: dict[str, Any] | None) -> bool:
    """The drill ended with instances up that no cleanup will terminate: the operator must run `run cleanup`."""
    return view is not None and "drsctl run cleanup" in str(view["text"])
