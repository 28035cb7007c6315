"""Who is calling: the caller's AWS identity (sts:GetCallerIdentity, which needs no permission), recorded as the
execution's StartedBy and shown where an account matters (the RECOVERY confirmation)."""

from __future__ import annotations

from dataclasses import dataclass

import boto3


@dataclass(frozen=True)
class Caller:
    arn: str
    account: str


def caller(region: str) -> Caller:
    answer = boto3.client("sts", region_name=region).get_caller_identity()
    return Caller(arn=str(answer["Arn"]), account=str(answer["Account"]))
