"""The registry of readiness checks, in the order findings are reported: one module per finding code."""

from __future__ import annotations

from lambdas.core.readiness.checks import (
    capacity_short,
    drill_overdue,
    lag_over_rpo,
    launch_config_invalid,
    lock_stale,
    replication_not_healthy,
    rto_at_risk,
    server_not_found,
)
from lambdas.core.readiness.model import Check

CHECKS: tuple[Check, ...] = (
    replication_not_healthy.CHECK,
    lag_over_rpo.CHECK,
    server_not_found.CHECK,
    launch_config_invalid.CHECK,
    capacity_short.CHECK,
    drill_overdue.CHECK,
    rto_at_risk.CHECK,
    lock_stale.CHECK,
)
CODES = tuple(check.code for check in CHECKS)
