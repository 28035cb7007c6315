"""Who is calling: the caller's AWS identity (sts:GetCallerIdentity, which needs no permission), recorded as the
execution's StartedBy and shown where an account matters (the RECOVERY confirmation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drsctl.operate.stack import DeployedStack


@dataclass(frozen=True)
class Caller:
    arn: str
    account: str


def caller(stack: DeployedStack) -> Caller:
    # the stack's session: one per set of AWS variables (credentials included), so the credentials as they are now
    answer = stack.client("sts").get_caller_identity()
    return Caller(arn=str(answer["Arn"]), account=str(answer["Account"]))
