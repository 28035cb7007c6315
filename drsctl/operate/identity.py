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
    # a fresh session: the credentials as they are now (boto3's default session keeps the first ones it resolved)
    answer = boto3.Session().client("sts", region_name=region).get_caller_identity()
    return Caller(arn=str(answer["Arn"]), account=str(answer["Account"]))
