"""The post-launch actions each launched server has configured (DRS ListLaunchActions), read once per HealthCheck
step and kept, compactly, on the step's record.

Why: DRS lists a server's post-launch action runs (DescribeJobs' `launchActionsStatus.runs`) only once it has
discovered the SSM agent on the recovery instance. In a drill subnet without SSM endpoints it never does, and the
server then shows `{runs: []}` without `ssmAgentDiscoveryDatetime`, exactly as a server with no action configured.
Only what is configured tells the two apart: ListLaunchActions with `resourceId` = the source server ID.

Bounded work: a wave may hold 2,000 servers and its health check looks every 30 s or more, so each server's actions
are read once per step, not at every look. Each check reads on from where the last one stopped, while its Lambda has
more than READ_RESERVE_SECONDS left, and the counts read so far go on the step's record (`LaunchActions`): the number
of active actions per judged server, in the judged order, run-length encoded ("1x1997,0x3": 1997 servers with one
action, then 3 with none; GONE for a source server DRS no longer knows), with a fingerprint of the judged servers so
that a different selection is read afresh. The record keeps it while the step runs; Next runbook step drops it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambdas.core import drs
from lambdas.core.accounts import Target
from lambdas.core.aws_errors import classify

RECORD_KEY = "LaunchActions"  # on the step's record (wave.Steps[i])
GONE = -1  # ListLaunchActions: ResourceNotFoundException (the source server was deleted meanwhile)
NOT_FOUND = "ResourceNotFoundException"
# Stop reading while one ListLaunchActions at its worst (drs.READ_CONFIG: 2 x (2 + 8) s and a backoff) and the
# step's record write at its worst (records.DYNAMODB_CONFIG: 3 x (1 + 3) s and backoffs) still fit, with room.
READ_RESERVE_SECONDS = 40
RUN_MAX = 100_000  # a run longer than any wave is not one this module wrote


@dataclass
class Configured:
    """Active post-launch actions of the judged servers (in their order), for the first `len(counts)` of them: the
    ones read so far."""

    server_ids: list[str]
    counts: list[int] = field(default_factory=list)
    _positions: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._positions = {server_id: position for position, server_id in enumerate(self.server_ids)}

    def count(self, server_id: str) -> int | None:
        """Active actions of a judged server; None until it is read (or for a server not judged)."""
        position = self._positions.get(server_id, len(self.counts))
        return self.counts[position] if position < len(self.counts) else None

    def stored(self) -> dict[str, str]:
        return {"Servers": _fingerprint(self.server_ids), "Counts": _encode(self.counts)}

    @classmethod
    def of(cls, record: dict[str, Any] | None, server_ids: Sequence[str]) -> Configured:
        """What the step's record holds for these servers (nothing, when it was read for other servers)."""
        kept = (record or {}).get(RECORD_KEY)
        if not isinstance(kept, dict) or kept.get("Servers") != _fingerprint(server_ids):
            return cls(list(server_ids))
        counts = _decode(str(kept.get("Counts", "")))
        return cls(list(server_ids), counts[: len(server_ids)] if counts is not None else [])


def active_actions(where: Target, server_id: str) -> int:
    """How many active post-launch actions DRS has configured for a source server in its account and Region (GONE if
    it no longer knows it)."""
    try:
        actions = drs.list_launch_actions(where, server_id)
    except Exception as error:
        failure = classify(error)
        if failure is not None and failure.code == NOT_FOUND:
            return GONE
        raise
    # `active` is optional in the model: an action that does not say it is inactive must run
    return sum(action.get("active") is not False for action in actions)


def read_more(count: Callable[[str], int], configured: Configured, has_time: Callable[[], bool]) -> None:
    """Read the servers not read yet, in order, while `has_time()`, each with `count(server_id)` (active_actions
    in the server's account and Region). Appends to `configured.counts` as it goes, so what was read before an error
    is kept; the error propagates (the health check decides what it means)."""
    while len(configured.counts) < len(configured.server_ids) and has_time():
        configured.counts.append(count(configured.server_ids[len(configured.counts)]))


def _fingerprint(server_ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(server_ids).encode()).hexdigest()[:16]


def _encode(counts: Sequence[int]) -> str:
    runs: list[list[int]] = []
    for count in counts:
        if runs and runs[-1][0] == count:
            runs[-1][1] += 1
        else:
            runs.append([count, 1])
    return ",".join(f"{count}x{length}" for count, length in runs)


def _decode(text: str) -> list[int] | None:
    """The counts `_encode` wrote; None for anything else (then the servers are read again)."""
    counts: list[int] = []
    for part in filter(None, text.split(",")):
        count, _, length = part.rpartition("x")
        try:
            run = int(length)
            if not 0 < run <= RUN_MAX:
                return None
            counts.extend([int(count)] * run)
        except ValueError:
            return None
    return counts
