"""Where a server lives: (account, Region), and the AWS clients that reach it.

A plan's protection groups may sit in member accounts (DRS replicates at most 300 source servers per account and
Region, so a large estate spans several). The stack's own account is called with the function's own credentials; a
member account through a role there (`arn:<partition>:iam::<account>:role/<MEMBER_ROLE_NAME>`, with the external ID
the stack was deployed with), assumed once per account and kept until shortly before its credentials expire, per
Lambda container. A call answered ExpiredToken drops the account's credentials, so the next call assumes the role
again (the workflow retries the step: it is transient).

The stack sets the environment (stacks/recovery_stack.py): ORCHESTRATOR_ACCOUNT (its account), ORCHESTRATOR_PARTITION,
MEMBER_ROLE_NAME (context `drs:memberRoleName`) and MEMBER_EXTERNAL_ID (context `drs:memberExternalId`).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from functools import total_ordering
from typing import Any

import boto3
from botocore.config import Config

ORCHESTRATOR_ACCOUNT = "ORCHESTRATOR_ACCOUNT"
ORCHESTRATOR_PARTITION = "ORCHESTRATOR_PARTITION"
MEMBER_ROLE_NAME = "MEMBER_ROLE_NAME"
MEMBER_EXTERNAL_ID = "MEMBER_EXTERNAL_ID"
DEFAULT_MEMBER_ROLE_NAME = "drs-orchestrator-member"
# Credentials are used until this long before they expire (a call made with them must end before they do).
REFRESH_MARGIN_SECONDS = 300
SESSION_SECONDS = 3600  # AssumeRole's DurationSeconds (the role's MaxSessionDuration is at least this)
# Errors that say the credentials themselves are no longer good (AWS's own codes for expired session tokens).
EXPIRED_CODES = frozenset(["ExpiredToken", "ExpiredTokenException", "RequestExpired"])
# STS in the function's own Region, with the same short timeouts as every other client (lambdas/core/drs.py).
STS_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=5)


@total_ordering
@dataclass(frozen=True)
class Target:
    """An (account, Region): where a source server, its jobs and its recovery instances live."""

    account: str
    region: str

    @property
    def key(self) -> str:
        """`111122223333/us-east-1`: how the state machine's data names it."""
        return f"{self.account}/{self.region}"

    @classmethod
    def parse(cls, key: str) -> Target:
        account, _, region = key.partition("/")
        return cls(account, region)

    def __str__(self) -> str:
        return f"account {self.account}, {self.region}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Target):
            return NotImplemented
        return (self.account, self.region) < (other.account, other.region)


@dataclass(frozen=True)
class _Credentials:
    access_key: str
    secret_key: str
    token: str
    expires_at: float  # epoch seconds


_lock = threading.Lock()
_credentials: dict[str, _Credentials] = {}
_clients: dict[tuple[Any, ...], Any] = {}
_home: list[str] = []  # the stack's own account, once known


def partition() -> str:
    return os.environ.get(ORCHESTRATOR_PARTITION) or "aws"


def home_account() -> str:
    """The stack's own account: from the environment the stack sets, else asked of STS once (tests, tools)."""
    configured = os.environ.get(ORCHESTRATOR_ACCOUNT)
    if configured:
        return configured
    if not _home:
        _home.append(str(_sts().get_caller_identity()["Account"]))
    return _home[0]


def account_of(account: str | None) -> str:
    """A group's or record's account: None means the stack's own (plans and records written before accounts)."""
    return account or home_account()


def is_home(account: str) -> bool:
    return account == home_account()


def role_arn(account: str) -> str:
    """The member role the workflow assumes in `account`."""
    name = os.environ.get(MEMBER_ROLE_NAME) or DEFAULT_MEMBER_ROLE_NAME
    return f"arn:{partition()}:iam::{account}:role/{name}"


def client(service: str, target: Target, config: Config, purpose: str = "read") -> Any:
    """A client of `service` in the target's Region, with the credentials of the target's account.

    Clients are cached per (service, purpose, account, Region, endpoint) and, in a member account, per credentials:
    new credentials make new clients. The endpoint is part of the key so a process that talks to several emulators
    (tests) never mixes them up. Raises the AssumeRole error (ClientError from STS) when the role cannot be assumed.
    """
    # boto3 reads AWS_ENDPOINT_URL_<SERVICE> (service-quotas: SERVICE_QUOTAS), else AWS_ENDPOINT_URL
    endpoint = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )
    with _lock:
        if any(known[0] == service and known[4] != endpoint for known in _clients):
            # A new endpoint (a process that rehearses many times meets a new emulator each time): the old clients
            # point at nothing and each holds its SDK session's models, megabytes a rehearsal. They go.
            for known in [k for k in _clients if k[0] == service]:
                del _clients[known]
    if is_home(target.account):
        key: tuple[Any, ...] = (service, purpose, target.account, target.region, endpoint)
        with _lock:
            if key not in _clients:
                _clients[key] = boto3.client(service, region_name=target.region, config=config)
            return _clients[key]
    credentials = _member_credentials(target.account)
    key = (service, purpose, target.account, target.region, endpoint, credentials.access_key)
    with _lock:
        if key not in _clients:
            made = boto3.client(
                service,
                region_name=target.region,
                config=config,
                aws_access_key_id=credentials.access_key,
                aws_secret_access_key=credentials.secret_key,
                aws_session_token=credentials.token,
            )
            made.meta.events.register("after-call", _forget_when_expired(target.account))
            _clients[key] = made
        return _clients[key]


def check_role(account: str) -> None:
    """Assume the member role of `account` now (or reuse its credentials): raises the AssumeRole error if it cannot
    be. The stack's own account needs no role."""
    if not is_home(account):
        _member_credentials(account)


def forget(account: str) -> None:
    """Drop an account's credentials (and the clients made with them): the next call assumes the role again."""
    with _lock:
        gone = _credentials.pop(account, None)
        if gone is not None:
            for key in [k for k in _clients if len(k) == 6 and k[5] == gone.access_key]:
                del _clients[key]


def reset() -> None:
    """Forget every account's credentials and the stack's account: a new AWS was stood up (a rehearsal's), so the
    credentials an earlier one issued mean nothing to it."""
    with _lock:
        _credentials.clear()
        _clients.clear()
        _home.clear()


def _member_credentials(account: str) -> _Credentials:
    with _lock:
        held = _credentials.get(account)
    if held is not None and held.expires_at - time.time() > REFRESH_MARGIN_SECONDS:
        return held
    answer = _sts().assume_role(
        RoleArn=role_arn(account),
        RoleSessionName=_session_name(),
        DurationSeconds=SESSION_SECONDS,
        **({"ExternalId": external} if (external := os.environ.get(MEMBER_EXTERNAL_ID)) else {}),
    )["Credentials"]
    fresh = _Credentials(
        access_key=answer["AccessKeyId"],
        secret_key=answer["SecretAccessKey"],
        token=answer["SessionToken"],
        expires_at=answer["Expiration"].timestamp(),
    )
    with _lock:
        _credentials[account] = fresh
    return fresh


def _session_name() -> str:
    """The role session's name (CloudTrail shows it in the member account): the function that called."""
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "drs-orchestrator"
    return "".join(c if c.isalnum() or c in "+=,.@-_" else "-" for c in function)[:64]


def _sts() -> Any:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_STS")
    key: tuple[Any, ...] = ("sts", os.environ.get("AWS_REGION"), endpoint)
    with _lock:
        if key not in _clients:
            _clients[key] = boto3.client("sts", region_name=os.environ.get("AWS_REGION"), config=STS_CONFIG)
        return _clients[key]


def _forget_when_expired(account: str) -> Any:
    def handler(parsed: dict[str, Any] | None = None, **_: Any) -> None:
        code = ((parsed or {}).get("Error") or {}).get("Code")
        if code in EXPIRED_CODES:
            forget(account)

    return handler
