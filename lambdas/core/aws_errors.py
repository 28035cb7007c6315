"""What an AWS error means for the workflow: wait and try again, wait for capacity, or stop and say what to fix.

DRS and DynamoDB throttle, answer 5xx and drop connections under load; a recovery must ride that out for as long as
its wave's deadline allows. Other errors never heal by waiting (a missing permission, an uninitialized account, a
server that is gone): those fail at once, with the fix in words. The lists of throttling and transient codes are
botocore's own (the ones its standard retry mode uses), so we classify errors exactly as the SDK does; the rest are
the error shapes of the DRS and DynamoDB models. A ServiceQuotaExceededException is read by its quota
(lambdas/core/quota_errors.py: by quotaCode, else by its message): capacity to wait for, a job too large, or an
account limit that waiting never frees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from botocore.retries.standard import ThrottledRetryableChecker, TransientRetryableChecker

from lambdas.core.accounts import EXPIRED_CODES
from lambdas.core.quota_errors import drs_quota

Kind = Literal["transient", "capacity", "conflict", "chunk_too_large", "permanent"]

THROTTLING_CODES = frozenset(ThrottledRetryableChecker._THROTTLED_ERROR_CODES)
TRANSIENT_CODES = frozenset(
    [
        *TransientRetryableChecker._TRANSIENT_ERROR_CODES,
        "InternalServerException",  # DRS's 500
        "InternalServerError",  # DynamoDB's 500
        "ServiceUnavailable",
        "InternalFailure",
    ]
)
TRANSIENT_STATUS_CODES = frozenset(TransientRetryableChecker._TRANSIENT_STATUS_CODES)
QUOTA_ERROR = "ServiceQuotaExceededException"
UNKNOWN_QUOTA = "unknown quota, waited for as DRS capacity"
QUOTA_CODE_SHOWN = 64  # the model allows long strings; DRS's codes are short


@dataclass(frozen=True)
class AwsFailure:
    """One failed AWS call, classified."""

    kind: Kind
    code: str
    message: str
    resource_id: str | None = None
    quota_code: str | None = None
    quota: str | None = None  # a quota error: which DRS quota (lambdas/core/quota_errors.py), or UNKNOWN_QUOTA

    @property
    def quota_label(self) -> str | None:
        """`L-D88FAC3A (Concurrent jobs in progress)`: the quota as DRS named it and as we read it."""
        if self.code != QUOTA_ERROR:
            return None
        code = (self.quota_code or "no quotaCode")[:QUOTA_CODE_SHOWN]
        return f"{code} ({self.quota or UNKNOWN_QUOTA})"

    def short(self, limit: int = 160) -> str:
        """`Code: message`; a quota error names its quota first, so a cut message never loses it."""
        code = f"{self.code} [{self.quota_label}]" if self.quota_label else self.code
        text = f"{code}: {self.message}" if self.message else code
        return text if len(text) <= limit else text[: limit - 1] + "…"


def classify(error: Exception) -> AwsFailure | None:
    """The failure an exception from boto3 stands for, or None when it is not an AWS call failing."""
    if isinstance(error, ConnectionError | HTTPClientError):
        # Connection reset, read or connect timeout, closed connection: the answer was lost, so the call may or may
        # not have taken effect. Every caller that changes something looks its effect up before trying again.
        return AwsFailure("transient", type(error).__name__, str(error))
    if not isinstance(error, ClientError):
        return None
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Unknown"))
    message = str(details.get("Message", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    quota_code = error.response.get("quotaCode")
    resource_id = error.response.get("resourceId")
    # a member account's credentials that expired are transient too: the next try assumes its role again
    if code in THROTTLING_CODES or code in TRANSIENT_CODES or code in EXPIRED_CODES or status in TRANSIENT_STATUS_CODES:
        return AwsFailure("transient", code, message)
    if code == QUOTA_ERROR:
        quota_code = str(quota_code) if quota_code is not None else None
        quota = drs_quota(quota_code, message)
        # A quota we do not know is waited for as capacity: see quota_errors (its code is named in the record).
        kind: Kind = quota.effect if quota is not None else "capacity"
        return AwsFailure(kind, code, message, quota_code=quota_code, quota=quota.name if quota else None)
    if code == "ConflictException":
        return AwsFailure("conflict", code, message, resource_id=resource_id)
    return AwsFailure("permanent", code, message, resource_id=resource_id)


def is_transient(error: Exception) -> bool:
    failure = classify(error)
    return failure is not None and failure.kind == "transient"
