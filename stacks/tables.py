"""The record tables of the seed, plus the live wave and lock tables: on-demand, PITR, encrypted."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

S = dynamodb.AttributeType.STRING
N = dynamodb.AttributeType.NUMBER

# Logical name -> (environment variable the Lambdas read, partition key, sort key)
TABLES: dict[str, tuple[str, tuple[str, dynamodb.AttributeType], tuple[str, dynamodb.AttributeType] | None]] = {
    "ProtectionGroups": ("PROTECTION_GROUPS_TABLE", ("GroupId", S), None),
    "RecoveryPlans": ("RECOVERY_PLANS_TABLE", ("PlanId", S), None),
    "ExecutionHistory": ("EXECUTION_HISTORY_TABLE", ("ExecutionId", S), ("PlanId", S)),
    "ExecutionWaves": ("EXECUTION_WAVES_TABLE", ("ExecutionId", S), ("WaveKey", S)),  # a wave and its pages
    "ExecutionLocks": ("EXECUTION_LOCKS_TABLE", ("LockId", S), None),
    "PlanReadiness": ("PLAN_READINESS_TABLE", ("PlanId", S), None),  # each plan's readiness (lambdas/core/readiness)
}
PLAN_EXECUTIONS_INDEX = "PlanExecutionsByTime"

# Global secondary indexes: (table, index) -> (partition key, sort key, projection). They mirror the rehearsal's tables
# (drsctl/local/tables.py, a test compares them) and the names the Lambdas query (stacks/iam.py INDEX_QUERIES).
# PlanExecutionsByTime: a plan's executions by start time (front ends). OpenExecutions: sparse, only the records that
# carry `Open` (ACTIVE, UNRESOLVED or CLEANUP), which the sweeper reads. LocksByExecution: every lock an execution
# holds, so each terminal path releases them all.
INDEXES: dict[
    tuple[str, str],
    tuple[tuple[str, dynamodb.AttributeType], tuple[str, dynamodb.AttributeType] | None, dynamodb.ProjectionType],
] = {
    ("ExecutionHistory", PLAN_EXECUTIONS_INDEX): (("PlanId", S), ("StartTime", N), dynamodb.ProjectionType.ALL),
    ("ExecutionHistory", "OpenExecutions"): (("Open", S), ("StartTime", N), dynamodb.ProjectionType.KEYS_ONLY),
    ("ExecutionLocks", "LocksByExecution"): (("ExecutionId", S), None, dynamodb.ProjectionType.KEYS_ONLY),
}


class RecordTables(Construct):
    """Stable logical IDs (a test pins them): renaming a table construct would replace the table and its data."""

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.TableV2] = {}
        for name, (_, (partition, partition_type), sort) in TABLES.items():
            table = dynamodb.TableV2(
                self,
                name,
                partition_key=dynamodb.Attribute(name=partition, type=partition_type),
                sort_key=dynamodb.Attribute(name=sort[0], type=sort[1]) if sort else None,
                billing=dynamodb.Billing.on_demand(),
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                encryption=dynamodb.TableEncryptionV2.aws_managed_key(),
                deletion_protection=removal_policy == RemovalPolicy.RETAIN,
                removal_policy=removal_policy,
            )
            self.tables[name] = table
        for (name, index), ((partition, partition_type), sort, projection) in INDEXES.items():
            self.tables[name].add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(name=partition, type=partition_type),
                sort_key=dynamodb.Attribute(name=sort[0], type=sort[1]) if sort else None,
                projection_type=projection,
            )

    def index_arn(self, name: str, index: str) -> str:
        """The ARN of one of INDEXES, for a dynamodb:Query grant (a grant on the table does not cover its indexes)."""
        assert (name, index) in INDEXES, f"{name} has no index {index}"
        return f"{self.tables[name].table_arn}/index/{index}"

    def environment(self) -> dict[str, str]:
        """What the Lambdas read: one environment variable per table name."""
        return {variable: self.tables[name].table_name for name, (variable, _, _) in TABLES.items()}
