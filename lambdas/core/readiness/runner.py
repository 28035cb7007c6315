"""Run every check of the registry over one estate: the runner knows no check, only the registry's list.

A check that cannot read a fact (FactUnavailable) gives one WARN finding under its own code saying what could not be
read and how to fix the access: a readiness report never reads "nothing wrong" where it could not look.
"""

from __future__ import annotations

from lambdas.core.readiness.checks import CHECKS
from lambdas.core.readiness.estate import Estate, FactUnavailable
from lambdas.core.readiness.model import Check, Finding, Readiness, iso, status_of

SEVERITY_ORDER = {"FAIL": 0, "WARN": 1}


def evaluate(estate: Estate, checks: tuple[Check, ...] = CHECKS) -> Readiness:
    findings: list[Finding] = []
    for check in checks:
        try:
            findings.extend(check.run(estate))
        except FactUnavailable as missing:
            findings.append(
                check.finding(
                    "WARN",
                    f"not evaluated: {missing}",
                    missing.fix,
                    account=missing.where.account if missing.where and missing.where.account else None,
                    region=missing.where.region if missing.where and missing.where.region else None,
                )
            )
    order = {check.code: index for index, check in enumerate(checks)}
    findings.sort(
        key=lambda f: (
            SEVERITY_ORDER[f.severity],
            order[f.code],
            f.account or "",
            f.region or "",
            f.sourceServerId or "",
        )
    )
    return Readiness(
        planId=estate.plan.PlanId,
        planVersion=estate.version,
        status=status_of(findings),
        evaluatedAt=iso(estate.now),
        findings=findings,
    )
