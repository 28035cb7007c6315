"""What an AWS error means for the workflow: wait and try again, wait for capacity, or stop and say what to fix.

DRS and DynamoDB throttle, answer 5xx and drop connections under load; a recovery must ride that out for as long as
its wave's deadline allows. Other errors never heal by waiting (a missing permission, an uninitialized account, a
server that is gone): those fail at once, with the fix in words. The lists of throttling and transient codes are
botocore's own (the ones its standard retry mode uses), so we classify errors exactly as the SDK does; the rest are
the error shapes of the DRS and DynamoDB models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from botocore.retries.standard import ThrottledRetryableChecker, TransientRetryableChecker

from lambdas.core.accounts import EXPIRED_CODES

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
# ServiceQuotaExceededException.quotaCode values that free up when other jobs end (docs/architecture.md: Quotas).
CAPACITY_QUOTAS = frozenset(["MaxConcurrentJobs", "MaxServersInAllActiveJobs"])
CHUNK_QUOTA = "MaxServersPerJob"


@dataclass(frozen=True)
class AwsFailure:
    """One failed AWS call, classified."""

    kind: Kind
    code: str
    message: str
    resource_id: str | None = None
    quota_code: str | None = None

    def short(self, limit: int = 160) -> str:
        text = f"{self.code}: {self.message}" if self.message else self.code
        return text if len(text) <= limit else text[: limit - 1] + "…"


def classify(error: Exception) -> AwsFailure | None:  # noqa: PLR0911 - a table of cases, one return each
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
    if code in THROTTLING_CODES or code in TRANSIENT_CODES or status in TRANSIENT_STATUS_CODES:
        return AwsFailure("transient", code, message)
    if code in EXPIRED_CODES:  # a member account's credentials expired: the next try assumes its role again
        return AwsFailure("transient", code, message)
    if code == "ServiceQuotaExceededException":
        if quota_code == CHUNK_QUOTA:
            return AwsFailure("chunk_too_large", code, message, quota_code=quota_code)
        if quota_code in CAPACITY_QUOTAS or quota_code is None:
            # No quota code: DRS only sends this error for its job quotas, which all free up as jobs end.
            return AwsFailure("capacity", code, message, quota_code=quota_code)
        return AwsFailure("permanent", code, message, quota_code=quota_code)
    if code == "ConflictException":
        return AwsFailure("conflict", code, message, resource_id=resource_id)
    return AwsFailure("permanent", code, message, resource_id=resource_id)


def is_transient(error: Exception) -> bool:
    failure = classify(error)
    return failure is not None and failure.kind == "transient"
