"""Messages for an operator in the middle of an incident: what happened, to which servers and jobs, and what to do.

Every message that ends a wave or an execution badly is built here and carries a "What to do:" sentence, so the
fault matrix can check that no failure reaches the record without an action, and operators learn where to look.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypedDict

from lambdas.core import accounts
from lambdas.core.accounts import Target
from lambdas.core.aws_errors import AwsFailure

ACTION_MARK = "What to do:"
_DENIED_ACTION = re.compile(r"perform:\s*([a-z0-9-]+:[A-Za-z0-9]+)")
# STS's AccessDenied for AssumeRole: "... is not authorized to perform: sts:AssumeRole on resource: <role ARN>"
_ASSUMED_ROLE = re.compile(r"sts:AssumeRole on resource:\s*(arn:\S+?:role/\S+?)(?:[\s.]|$)")
LISTED = 10


def listed(items: Sequence[str], limit: int = LISTED) -> str:
    """`a, b, c and 7 more`: long lists stay readable and bounded."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def with_action(what: str, action: str) -> str:
    return f"{what.rstrip('. ')}. {ACTION_MARK} {action.rstrip('.')}."


class Where(TypedDict):
    region: str
    member_role: str | None


def where(target: Target) -> Where:
    """How messages name a target: its Region, with the account and its member role when it is not the stack's own
    (the keyword arguments `region` and `member_role` of permanent_failure)."""
    if accounts.is_home(target.account):
        return Where(region=target.region, member_role=None)
    return Where(region=f"{target.region} of account {target.account}", member_role=accounts.role_arn(target.account))


def permanent_failure(  # noqa: PLR0911 - one return per kind of refusal, each with its fix
    failure: AwsFailure,
    *,
    operation: str,
    region: str,
    function: str,
    servers: Sequence[str] = (),
    jobs_started: Sequence[str] | None = None,
    member_role: str | None = None,
) -> str:
    """A DRS error that waiting will not fix, as a sentence naming the call, the servers, the jobs that had already
    started (they go on: DRS has no cancel) and the fix. `member_role`: the call went through a member account's
    role (lambdas/core/accounts.py), whose permissions are the ones to fix."""
    about = f" for server(s) {listed(list(servers), 5)}" if servers else ""
    started = ""
    if jobs_started is not None:
        started = f" DRS jobs it had already started: {listed(list(jobs_started), 5) if jobs_started else 'none'}."
    what = f"DRS refused {operation} in {region}{about}.{started} {failure.short()}"
    assumed = _ASSUMED_ROLE.search(failure.message) if failure.code == "AccessDenied" else None
    if assumed is not None:  # STS refused the member role: the account cannot be reached at all
        return with_action(
            f"{what.replace('DRS refused', 'Could not reach the account for', 1)}",
            f"check that the member stack is deployed in that account (make deploy-member) with the role "
            f"{assumed.group(1)} trusting this stack's account and the same external ID, then run the plan again",
        )
    if failure.code == "AccessDeniedException" and member_role is not None:
        denied = _DENIED_ACTION.search(failure.message)
        action = denied.group(1) if denied else f"drs:{operation}"
        return with_action(
            what,
            f"grant {action} to the member role {member_role} (redeploy the member stack: make deploy-member), "
            "then run the plan again",
        )
    if failure.code == "AccessDeniedException":
        denied = _DENIED_ACTION.search(failure.message)
        action = denied.group(1) if denied else f"drs:{operation}"
        extra = (
            " (StartRecovery also needs the EC2 and IAM launch permissions listed in stacks/iam.py)"
            if operation == "StartRecovery"
            else ""
        )
        return with_action(
            what, f"grant {action} to the {function} function's role{extra}, redeploy, then run the plan again"
        )
    if failure.code == "UninitializedAccountException":
        return with_action(
            what,
            f"initialize DRS in {region} (DRS console > Get started, or the InitializeService API) and make sure the "
            "plan's servers replicate there, then run the plan again",
        )
    if failure.code == "ResourceNotFoundException":
        gone = failure.resource_id or "a server of this wave"
        return with_action(
            what,
            f"{gone} is no longer a DRS source server in {region} (deleted or disconnected): check it in the DRS "
            "console, remove it from the plan or restore its replication, then run the plan again",
        )
    if failure.code == "ValidationException":
        return with_action(
            what,
            "the request broke a DRS rule the plan checks did not catch: read the message, fix the plan or the "
            "servers it names, and report it as a defect of drs-orchestrator",
        )
    if failure.code == "ServiceQuotaExceededException":
        return with_action(
            what,
            f"raise the DRS quota {failure.quota or ''}{f' ({failure.quota_code})' if failure.quota_code else ''} "
            f"in Service Quotas for {region} (ending other jobs does not free it), or split the wave",
        )
    return with_action(what, "read the error, fix its cause, then run the plan again")


def before_action(text: str, addition: str) -> str:
    """`addition` inserted just before the "What to do:" sentence (or appended when there is none), so the action
    stays last, where operators look for it and where truncation never cuts it."""
    addition = addition.strip()
    if not addition:
        return text
    story, mark, action = text.partition(ACTION_MARK)
    if not mark:
        return f"{_sentence(text)} {addition}"
    return f"{_sentence(story)} {addition} {mark}{action}"


def _sentence(text: str) -> str:
    """`text` ending as a sentence, so what is added after it does not run on from its last word."""
    text = text.rstrip()
    return text if not text or text[-1] in ".!?:" else f"{text}."


def role_refused(account: str, failure: AwsFailure) -> str:
    """Why a member account cannot be reached, and how to fix it."""
    return with_action(
        f"account {account}: the member role {accounts.role_arn(account)} could not be assumed "
        f"({failure.short()}); nothing in that account can be checked or launched",
        role_refused_fix(account),
    )


def role_refused_fix(account: str, then: str = "run the plan again") -> str:
    """How to let the stack into a member account whose role it could not assume."""
    return (
        f"deploy the member stack in account {account} (make deploy-member, or the StackSet of "
        "docs/accounts.md) trusting this stack's account, list the account in the stack's context "
        f"drs:memberAccounts and give both the same external ID (drs:memberExternalId), then {then}"
    )
