"""A source server's last launch as DRS lists it (`lifeCycle.lastLaunch`), and whether DRS may still launch it.

A last launch that says PENDING or IN_PROGRESS is not always in an active job: DRS can end a job (COMPLETED) with a
participant's launch unfinished, and the source server's last launch keeps saying IN_PROGRESS. Such a launch will
not finish (the wave that followed it recorded the server FAILED, JOB_ENDED_NO_LAUNCH), and DRS takes the server
into a new job. Read alone, the status would refuse that server in every later start and resume ("wait for that job
to finish") although the job has finished; so the job itself is asked (DescribeJobs) before the server is called
busy.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from lambdas.core import drs
from lambdas.core.accounts import Target
from lambdas.core.aws_errors import classify

ACTIVE = ("PENDING", "IN_PROGRESS")  # lifeCycle.lastLaunch.status of a launch that has not ended
ENDED_JOB = "COMPLETED"  # a job's status once it has ended (DRS jobs have no FAILED: failure is per server)


def of(server: Mapping[str, Any] | None) -> dict[str, Any]:
    """The server's `lifeCycle.lastLaunch` as DescribeSourceServers lists it ({} when it never launched)."""
    last: dict[str, Any] = ((server or {}).get("lifeCycle") or {}).get("lastLaunch") or {}
    return last


def job_of(last: Mapping[str, Any]) -> str | None:
    job = (last.get("initiated") or {}).get("jobID")
    return str(job) if job else None


def ended_jobs(inventory: Mapping[Target, Mapping[str, Mapping[str, Any]]]) -> set[str]:
    """The jobs that have ended though a server's last launch, read from them, still says PENDING or IN_PROGRESS
    (one DescribeJobs per (account, Region) that has such servers, none otherwise).

    Transient errors propagate (the state machine retries Prepare). A refusal, or a job DRS no longer lists, leaves
    the launch counted as active, as its status says: a server is never taken for free on a guess."""
    ended: set[str] = set()
    for target, servers in sorted(inventory.items()):
        jobs = sorted({job for server in servers.values() if (job := _active_job(of(server))) is not None})
        if not jobs:
            continue
        try:
            found = drs.describe_jobs(target, jobs)
        except Exception as error:
            failure = classify(error)
            if failure is None or failure.kind == "transient":
                raise
            continue
        ended.update(str(job["jobID"]) for job in found if job.get("status") == ENDED_JOB)
    return ended


def still_launching(last: Mapping[str, Any], ended: Collection[str]) -> bool:
    """Whether DRS may still launch the server: its last launch has not ended and neither has its job."""
    return last.get("status") in ACTIVE and job_of(last) not in ended


def _active_job(last: Mapping[str, Any]) -> str | None:
    return job_of(last) if last.get("status") in ACTIVE else None
