"""An approval's answers as the wave's record keeps them, and the rule that turns them into a decision.

Each principal that answers an approval step gets one entry in the step's `Approvals` (`By` is the caller's ARN as
AWS authenticated it, never a typed name). The step is decided when any principal rejects, or when `Approvers`
distinct principals have approved; the same principal answering twice counts once. The answer function
(lambdas/core/approval_answer.py) applies the rule before it answers the task token, and Next runbook step applies it
again to the record before it lets the plan go on (lambdas/core/runbook.py): an APPROVE that reached the workflow
without the answers recorded here (a SendTaskSuccess made by hand with a token read from the history) fails closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ApprovalDecision = Literal["APPROVE", "REJECT"]
REASON_MAX = 500  # characters: a reason is a sentence or two, kept on the record with each answer
PRINCIPAL_MAX = 2_048  # an IAM ARN's longest form (an assumed role's session ARN); AWS gives it, we keep it whole


class ApprovalAnswer(BaseModel):
    """One principal's answer, as `Approvals` on the step holds it."""

    model_config = ConfigDict(extra="ignore")

    By: str = Field(max_length=PRINCIPAL_MAX)
    Decision: ApprovalDecision
    Reason: str | None = Field(None, max_length=REASON_MAX)
    At: int  # epoch seconds: when AWS received the answer (the function URL request's time)


@dataclass(frozen=True)
class Decided:
    """What the answers decided: the answer that decided it (the rejection, or the approval that made N)."""

    decision: ApprovalDecision
    by: str
    reason: str | None
    at: int
    approvals: tuple[ApprovalAnswer, ...]

    def output(self) -> dict[str, object]:
        """What SendTaskSuccess / SendTaskFailure carry to Next runbook step (which checks it against the record)."""
        return {
            "Decision": self.decision,
            "DecidedBy": self.by,
            "Reason": self.reason,
            "DecidedAt": self.at,
            "Approvals": [answer.model_dump(exclude_none=True) for answer in self.approvals],
        }


def distinct_approvers(approvals: list[ApprovalAnswer]) -> list[ApprovalAnswer]:
    """The first APPROVE of each principal, in the order they came."""
    seen: set[str] = set()
    first = []
    for answer in approvals:
        if answer.Decision == "APPROVE" and answer.By not in seen:
            seen.add(answer.By)
            first.append(answer)
    return first


def decide(approvals: list[ApprovalAnswer], needed: int) -> Decided | None:
    """Any rejection rejects (the first one decides); else `needed` distinct principals approve; else undecided."""
    rejection = next((answer for answer in approvals if answer.Decision == "REJECT"), None)
    if rejection is not None:
        return Decided("REJECT", rejection.By, rejection.Reason, rejection.At, tuple(approvals))
    approving = distinct_approvers(approvals)
    if len(approving) >= max(1, needed):
        deciding = approving[max(1, needed) - 1]
        return Decided("APPROVE", deciding.By, deciding.Reason, deciding.At, tuple(approvals))
    return None
