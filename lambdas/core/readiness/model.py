"""What readiness says about a plan: findings, the plan's status, and each check's metadata.

The JSON of a result (docs/readiness.schema.json, generated from `Readiness`) is
`{planId, planVersion, status: PASS|WARN|FAIL, evaluatedAt, findings: [{code, severity: FAIL|WARN, account, region,
sourceServerId, hostname, detail, fix}]}`: field names as the issue spells them, camelCase like the report's JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from lambdas.core.readiness.estate import Estate

Severity = Literal["FAIL", "WARN"]
Status = Literal["PASS", "WARN", "FAIL"]
STATUS_RANK: dict[str, int] = {"PASS": 0, "WARN": 1, "FAIL": 2}  # the value of the per-plan metric


class Finding(BaseModel):
    """One thing wrong: which check, how bad, where (account, Region, server), what was seen, and the fix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="The check's code, e.g. REPLICATION_NOT_HEALTHY (docs/readiness.md).")
    severity: Severity = Field(description="FAIL: a drill or recovery would fail or be refused. WARN: it would run.")
    account: str | None = Field(None, description="The AWS account of the server or Region concerned.")
    region: str | None = Field(None, description="The Region concerned.")
    sourceServerId: str | None = Field(None, description="The DRS source server concerned, if one.")
    hostname: str | None = Field(None, description="Its hostname as DRS identifies it.")
    detail: str = Field(description="What was seen.")
    fix: str = Field(description="What to do.")


class Readiness(BaseModel):
    """A plan's readiness at one moment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    planId: str
    planVersion: str = Field(
        pattern=r"^[0-9a-f]{12}$",
        description="The version evaluated: 12 hex digits of the SHA-256 of the plan's canonical JSON "
        "(lambdas/core/plan_version.py).",
    )
    status: Status = Field(description="FAIL if any finding fails, else WARN if any warns, else PASS.")
    evaluatedAt: str = Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$",
        description="When, in UTC (ISO 8601, e.g. 2026-01-01T00:00:00Z).",
    )
    findings: list[Finding] = Field(default_factory=list)


def status_of(findings: Iterable[Finding]) -> Status:
    worst = max((STATUS_RANK[finding.severity] for finding in findings), default=0)
    return "FAIL" if worst == 2 else "WARN" if worst == 1 else "PASS"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Check:
    """A readiness check and its metadata. `run` yields the findings of one estate; it reads only what `reads`
    says, through the estate."""

    code: str
    severity: str  # what it raises: "FAIL", "WARN" or "FAIL or WARN"
    title: str  # one line: what it finds
    reads: tuple[str, ...]  # the AWS calls and records it reads
    remediation: str  # what to do, in general (each finding carries its own fix)
    link: str  # where AWS documents the matter
    run: Callable[[Estate], Iterable[Finding]]

    def finding(
        self,
        severity: Severity,
        detail: str,
        fix: str,
        *,
        account: str | None = None,
        region: str | None = None,
        server_id: str | None = None,
        hostname: str | None = None,
    ) -> Finding:
        return Finding(
            code=self.code,
            severity=severity,
            account=account,
            region=region,
            sourceServerId=server_id,
            hostname=hostname,
            detail=detail,
            fix=fix,
        )
