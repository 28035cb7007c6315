"""The DynamoDB tables of the seed, as the rehearsal creates them in moto (the CDK stack defines the same keys)."""

from __future__ import annotations

from typing import Any

PROTECTION_GROUPS = "ProtectionGroups"
RECOVERY_PLANS = "RecoveryPlans"
EXECUTION_HISTORY = "ExecutionHistory"
EXECUTION_WAVES = "ExecutionWaves"
EXECUTION_LOCKS = "ExecutionLocks"
PLAN_READINESS = "PlanReadiness"

# Environment variable -> table definition (CreateTable arguments, without the name).
TABLES: dict[str, dict[str, Any]] = {
    "PROTECTION_GROUPS_TABLE": {
        "KeySchema": [{"AttributeName": "GroupId", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "GroupId", "AttributeType": "S"}],
    },
    "RECOVERY_PLANS_TABLE": {
        "KeySchema": [{"AttributeName": "PlanId", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "PlanId", "AttributeType": "S"}],
    },
    "EXECUTION_HISTORY_TABLE": {
        "KeySchema": [
            {"AttributeName": "ExecutionId", "KeyType": "HASH"},
            {"AttributeName": "PlanId", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "ExecutionId", "AttributeType": "S"},
            {"AttributeName": "PlanId", "AttributeType": "S"},
            {"AttributeName": "StartTime", "AttributeType": "N"},
            {"AttributeName": "Open", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "PlanExecutionsByTime",
                "KeySchema": [
                    {"AttributeName": "PlanId", "KeyType": "HASH"},
                    {"AttributeName": "StartTime", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                # Sparse: only items with `Open` (ACTIVE, UNRESOLVED or CLEANUP) are in it; the sweeper reads it.
                "IndexName": "OpenExecutions",
                "KeySchema": [
                    {"AttributeName": "Open", "KeyType": "HASH"},
                    {"AttributeName": "StartTime", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    },
    "EXECUTION_WAVES_TABLE": {  # one item collection per wave: the wave (0003) and its pages of servers (0003#001)
        "KeySchema": [
            {"AttributeName": "ExecutionId", "KeyType": "HASH"},
            {"AttributeName": "WaveKey", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "ExecutionId", "AttributeType": "S"},
            {"AttributeName": "WaveKey", "AttributeType": "S"},
        ],
    },
    "EXECUTION_LOCKS_TABLE": {
        "KeySchema": [{"AttributeName": "LockId", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "LockId", "AttributeType": "S"},
            {"AttributeName": "ExecutionId", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "LocksByExecution",
                "KeySchema": [{"AttributeName": "ExecutionId", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    },
    "PLAN_READINESS_TABLE": {  # each plan's readiness (lambdas/core/readiness/store.py)
        "KeySchema": [{"AttributeName": "PlanId", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "PlanId", "AttributeType": "S"}],
    },
}

TABLE_NAMES = {
    "PROTECTION_GROUPS_TABLE": PROTECTION_GROUPS,
    "RECOVERY_PLANS_TABLE": RECOVERY_PLANS,
    "EXECUTION_HISTORY_TABLE": EXECUTION_HISTORY,
    "EXECUTION_WAVES_TABLE": EXECUTION_WAVES,
    "EXECUTION_LOCKS_TABLE": EXECUTION_LOCKS,
    "PLAN_READINESS_TABLE": PLAN_READINESS,
}
