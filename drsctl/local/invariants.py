"""The promises the workflow keeps under every fault, stated once as code over what a rehearsal leaves behind.

Every fault test, the fault matrix and the randomized schedules check the same list, after every execution has
ended and the reconcile and sweep paths have run:

- no server launched twice by one execution;
- no record, wave item or server entry left in a non-final status;
- no lock left once every execution has ended;
- no DRS job of an execution missing from its record, and every server DRS took into a job carrying that job's ID;
- no failed, partial or stopped execution whose message does not say what to do;
- no drill cleanup left waiting or terminating once its execution has ended;
- no server launched again by an execution that resumed one which had launched it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3

from drsctl.emulator import DrsEmulator
from drsctl.local.tables import EXECUTION_HISTORY, EXECUTION_LOCKS
from lambdas.core import records
from lambdas.core.explain import ACTION_MARK
from lambdas.core.records import (
    ACTIVE_EXECUTION_STATUSES,
    FINAL_SERVER_STATUSES,
    OPEN_CLEANUP_STATUSES,
    ExecutionRecord,
    WaveRecord,
    from_item,
)

FINAL_WAVE_STATUSES = ("COMPLETED", "PARTIAL", "FAILED", "TIMED_OUT", "SKIPPED", "CANCELLED")


@dataclass
class Violations:
    launched_twice: list[str] = field(default_factory=list)
    open_records: list[str] = field(default_factory=list)
    open_waves: list[str] = field(default_factory=list)
    open_servers: list[str] = field(default_factory=list)
    open_steps: list[str] = field(default_factory=list)  # runbook steps still RUNNING (or holding a task token)
    open_cleanups: list[str] = field(default_factory=list)  # Options.DrillCleanup still PLANNED/WAITING/TERMINATING
    relaunched: list[str] = field(default_factory=list)  # launched by an execution and again by its resume
    locks_left: list[str] = field(default_factory=list)
    jobs_missing: list[str] = field(default_factory=list)
    errors_without_action: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(found) for name, found in vars(self).items()}

    def __bool__(self) -> bool:
        return any(vars(self).values())


@cache
def _table(name: str) -> Any:
    """One resource per table for the process (creating one costs more than a scan of a small table); moto's mock
    catches its calls in every rehearsal, as it does the functions' own cached tables (records.table)."""
    return boto3.resource("dynamodb", region_name="us-east-1").Table(name)


def _scan(table: str) -> list[dict[str, Any]]:
    resource = _table(table)
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {}
    while True:
        page = resource.scan(**arguments)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def check(drs: DrsEmulator) -> Violations:
    """Every invariant, over the tables of the current moto context and the emulator's jobs."""
    found = Violations()
    history = [ExecutionRecord.model_validate(from_item(item)) for item in _scan(EXECUTION_HISTORY)]
    waves = {record.ExecutionId: records.execution_waves(record.ExecutionId) for record in history}
    for record in history:
        where = record.ExecutionId
        if record.Status in ACTIVE_EXECUTION_STATUSES:
            found.open_records.append(f"{where}: {record.Status}")
        elif record.Status != "COMPLETED" and ACTION_MARK not in (record.ErrorMessage or ""):
            found.errors_without_action.append(f"{where}: {record.Status}: {record.ErrorMessage!r}")
        if record.Cleanup is not None and record.Cleanup.Status in OPEN_CLEANUP_STATUSES:
            found.open_cleanups.append(f"{where}: drill cleanup {record.Cleanup.Status}")
        for listed in record.Waves:
            if listed.Status not in FINAL_WAVE_STATUSES:
                found.open_waves.append(f"{where} wave {listed.WaveNumber} (record): {listed.Status}")
        for wave in waves[record.ExecutionId]:
            _check_wave(found, f"{where} wave {wave.WaveNumber}", wave)
            summary = record.Waves[wave.WaveNumber - 1] if wave.WaveNumber <= len(record.Waves) else None
            if record.Status not in ACTIVE_EXECUTION_STATUSES and (summary is None or summary.Status != wave.Status):
                said = summary.Status if summary is not None else "nothing"
                found.open_waves.append(
                    f"{where} wave {wave.WaveNumber}: the record says {said}, the wave {wave.Status}"
                )
    _check_jobs(found, drs, waves)
    _check_resumes(found, drs, history)
    if not found.open_records:
        found.locks_left.extend(f"{item['LockId']} held by {item['ExecutionId']}" for item in _scan(EXECUTION_LOCKS))
    return found


def _check_wave(found: Violations, where: str, wave: WaveRecord) -> None:
    if wave.Status not in FINAL_WAVE_STATUSES:
        found.open_waves.append(f"{where}: {wave.Status}")
    elif wave.Status in ("FAILED", "TIMED_OUT") and ACTION_MARK not in (wave.ErrorMessage or ""):
        found.errors_without_action.append(f"{where}: {wave.Status}: {wave.ErrorMessage!r}")
    for server in wave.Servers:
        if server.Status not in FINAL_SERVER_STATUSES:
            found.open_servers.append(f"{where} {server.SourceServerId}: {server.Status}")
    for step in wave.Steps:
        if step.get("Status") == "RUNNING" or step.get("TaskToken"):
            found.open_steps.append(f"{where} {step.get('Phase')} step {step.get('Index')}: {step.get('Status')}")


def _check_jobs(found: Violations, drs: DrsEmulator, waves: dict[str, list[WaveRecord]]) -> None:
    launches: Counter[tuple[str, str]] = Counter()
    for job in drs.jobs.values():
        execution_id = job.tags.get("ExecutionId")
        if job.type != "LAUNCH" or execution_id is None:
            continue
        for participant in job.participants:
            launches[(execution_id, participant.source_server_id)] += 1
        wave_number = int(job.tags.get("WaveNumber", "0"))
        wave = next((w for w in waves.get(execution_id, []) if w.WaveNumber == wave_number), None)
        if wave is None:
            found.jobs_missing.append(f"{job.id} of {execution_id} wave {wave_number}: no such wave recorded")
            continue
        if job.id not in wave.JobIds:
            found.jobs_missing.append(f"{job.id} of {execution_id} wave {wave_number}: not in JobIds")
        carried = {s.SourceServerId: s.RecoveryJobId for s in wave.Servers}
        for participant in job.participants:
            if carried.get(participant.source_server_id) != job.id:
                found.jobs_missing.append(
                    f"{job.id}: server {participant.source_server_id} of {execution_id} carries "
                    f"{carried.get(participant.source_server_id)!r}"
                )
    found.launched_twice.extend(
        f"{server} launched {count} times by {execution}"
        for (execution, server), count in launches.items()
        if count > 1
    )


def _check_resumes(found: Violations, drs: DrsEmulator, history: list[ExecutionRecord]) -> None:
    """A server LAUNCHED by two executions of one resume family (an execution, its resumes, theirs, ...)."""
    launched: dict[str, set[str]] = {}
    for job in drs.jobs.values():
        execution_id = job.tags.get("ExecutionId")
        if job.type == "LAUNCH" and execution_id is not None:
            done = {p.source_server_id for p in job.participants if p.launch_status in ("LAUNCHED", "TERMINATED")}
            launched.setdefault(execution_id, set()).update(done)
    resumed_from = {record.ExecutionId: record.ResumedFrom for record in history}

    def root(execution_id: str) -> str:
        seen = {execution_id}
        while (earlier := resumed_from.get(execution_id)) is not None and earlier not in seen:
            seen.add(earlier)
            execution_id = earlier
        return execution_id

    by_server: dict[tuple[str, str], list[str]] = {}
    for execution_id, servers in launched.items():
        if execution_id in resumed_from:
            for server in servers:
                by_server.setdefault((root(execution_id), server), []).append(execution_id)
    found.relaunched.extend(
        f"{server}: launched by {' and by '.join(sorted(executions))}"
        for (_, server), executions in sorted(by_server.items())
        if len(executions) > 1
    )
