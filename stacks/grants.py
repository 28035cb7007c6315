"""From the grants of stacks/iam.py to IAM policy statements, and the cdk-nag acknowledgements that go with them.

cdk-nag's AwsSolutions-IAM5 flags every wildcard in a policy's resources or actions. Each one is acknowledged on
the policy that holds it, never on the stack: `acknowledge_wildcards` (called by stacks/nag.py once the stack is
built) reads every IAM policy of the stack, finds its wildcards and acknowledges each on that policy with its
reason. A `*` resource is explained by the actions that take no resource; any other wildcard by the reason given
where its statement was added (`add`, `explain`); a wildcard nobody explained fails the synth.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from stacks.iam import Grant

IAM5 = "AwsSolutions::AwsSolutions-IAM5"
_REASONS: dict[str, dict[str, str]] = {}  # stack address -> wildcard (as cdk-nag names it) -> why it is needed


def arn(template: str, stack: Stack) -> str:
    """An ARN template of stacks/iam.py ({partition}, {account}) for this stack (other text, tokens too, kept)."""
    return template.replace("{partition}", stack.partition).replace("{account}", stack.account)


def statement(grant: Grant, stack: Stack) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        actions=list(grant.actions),
        resources=[arn(resource, stack) for resource in grant.resources],
        conditions=grant.conditions or None,
    )


# A managed policy holds at most 6,144 characters (IAM quotas, whitespace not counted); grants are packed below that,
# measured in the partition with the longest name, with room for the statements' own punctuation.
MANAGED_POLICY_MAX = 6144
PACKING_BUDGET = 5400
LONGEST = {"{partition}": "aws-us-gov", "{account}": "123456789012"}


def size(grant: Grant) -> int:
    """A grant's statement as IAM counts it, in the partition with the longest name."""
    resources = [resource for resource in grant.resources]
    for token, value in LONGEST.items():
        resources = [resource.replace(token, value) for resource in resources]
    document = {"Effect": "Allow", "Action": list(grant.actions), "Resource": resources}
    if grant.conditions:
        document["Condition"] = grant.conditions
    return len(json.dumps(document, separators=(",", ":")))


def packed(grants: Sequence[Grant], budget: int = PACKING_BUDGET) -> list[list[Grant]]:
    """The grants in order, cut into parts that each fit a managed policy."""
    parts: list[list[Grant]] = [[]]
    used = 0
    for grant in grants:
        needed = size(grant)
        if needed > budget:
            raise ValueError(f"{grant.actions}: {needed} characters, more than one managed policy holds")
        if parts[-1] and used + needed > budget:
            parts.append([])
            used = 0
        parts[-1].append(grant)
        used += needed
    return parts


def add(policy: iam.Role | iam.ManagedPolicy | iam.Policy, grant: Grant) -> None:
    """Add the grant's statement to a role's (inline) policy or a managed policy, with the reason for its wildcards."""
    stack = Stack.of(policy)
    added = statement(grant, stack)
    if isinstance(policy, iam.Role):
        policy.add_to_policy(added)
    else:
        policy.add_statements(added)
    for resource in grant.resources:
        if "*" in resource and resource != "*":
            explain(stack, nag_form(stack.resolve(arn(resource, stack))), grant.why)


def explain(scope: IConstruct, wildcard: str, why: str) -> None:
    """Why a wildcard (`arn:<AWS::Partition>:...:job/*`, `kms:GenerateDataKey*`, as cdk-nag names it) is needed."""
    if not why:
        raise ValueError(f"{wildcard}: say why the wildcard is needed")
    reasons = _REASONS.setdefault(Stack.of(scope).node.addr, {})
    if reasons.get(wildcard, why) != why:
        why = f"{reasons[wildcard]}; {why}"
    reasons[wildcard] = why


def nag_form(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag names it in a finding: `arn:<AWS::Partition>:...`, `<Logical.Arn>`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(nag_form(part) for part in parts)
    raise ValueError(f"cannot name {value!r} as cdk-nag does")


def wildcards(document: dict[str, Any]) -> dict[str, list[str]]:
    """A resolved policy document's IAM5 findings: `Resource::<resource>` / `Action::<action>` -> the actions."""
    found: dict[str, list[str]] = {}
    for policy_statement in _listed(document.get("Statement")):
        actions = [str(action) for action in _listed(policy_statement.get("Action"))]
        for resource in map(nag_form, _listed(policy_statement.get("Resource"))):
            if "*" in resource:
                found.setdefault(f"Resource::{resource}", []).extend(actions)
        for action in actions:
            if "*" in action:
                found.setdefault(f"Action::{action}", []).append(action)
    return found


def acknowledge_wildcards(stack: Stack) -> dict[str, dict[str, str]]:
    """Acknowledge IAM5 on each policy of the stack for each of its wildcards; returns policy path -> finding ->
    reason. Raises when a wildcard has no reason."""
    reasons = _REASONS.get(stack.node.addr, {})
    acknowledged: dict[str, dict[str, str]] = {}
    for construct in stack.node.find_all():
        if not isinstance(construct, (iam.Policy, iam.ManagedPolicy)):
            continue
        document = stack.resolve(construct.document)
        for finding, actions in wildcards(document or {}).items():
            kind, wildcard = finding.split("::", 1)
            if wildcard == "*":
                listed = ", ".join(sorted(set(actions)))
                reason = f"these actions take no resource (Service Authorization Reference): {listed}"
            elif wildcard in reasons:
                reason = reasons[wildcard]
            else:
                raise ValueError(
                    f"{construct.node.path}: {kind} {wildcard} has a wildcard nobody explained (stacks/grants.py "
                    "explain): say why it is needed where the statement is added"
                )
            acknowledged.setdefault(construct.node.path, {})[f"{IAM5}[{finding}]"] = reason
            Validations.of(construct).acknowledge(Acknowledgment(id=f"{IAM5}[{finding}]", reason=reason))
    return acknowledged


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
