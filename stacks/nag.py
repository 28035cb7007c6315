"""cdk-nag AwsSolutions acknowledgements, each on what it concerns, with the one-line reason a reviewer needs.

IAM5 (a wildcard in a policy) is acknowledged policy by policy, never for the whole stack: stacks/grants.py reads
each policy's wildcards and acknowledges them on that policy with the reason given where the statement was added.
Every DeadLetterQueue acknowledges SQS3 itself (it is a dead-letter queue).
"""

from __future__ import annotations

import aws_cdk as cdk

from stacks.grants import acknowledge_wildcards

ACKNOWLEDGEMENTS: dict[str, str] = {
    "AwsSolutions::AwsSolutions-L1": (
        "Python 3.13 is the runtime the bundled dependencies are built for (stacks/bundling.py: pydantic-core is "
        "compiled for cp313 aarch64) and the rehearsal is checked against; moving on is a deliberate change"
    ),
}


def acknowledge_findings(stack: cdk.Stack) -> None:
    for rule, reason in ACKNOWLEDGEMENTS.items():
        cdk.Validations.of(stack).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))
    acknowledge_wildcards(stack)


def acknowledge_member_findings(stack: cdk.Stack) -> None:
    """The member role holds, in its account, the same actions as the orchestrator's functions: the same reasons,
    its wildcards acknowledged on its own policy as the orchestrator's are."""
    acknowledge_findings(stack)
