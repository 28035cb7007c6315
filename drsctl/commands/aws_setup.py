"""What to tell an operator when the AWS SDK cannot even be set up: no region, no credentials, a missing profile."""

from __future__ import annotations

import os

CREDENTIALS_FIX = (
    "configure credentials (aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); against the "
    "emulator any value works, e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"
)


def setup_problem(error: BaseException) -> str | None:
    """The fix for an SDK error that comes from this machine's configuration, or None for any other error."""
    from botocore.exceptions import NoCredentialsError, NoRegionError, PartialCredentialsError, ProfileNotFound

    if isinstance(error, NoRegionError):
        return (
            "no AWS region is configured: set the stack's region, e.g. export AWS_DEFAULT_REGION=us-east-1 "
            "(or aws configure)"
        )
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return f"no AWS credentials found: {CREDENTIALS_FIX}"
    if isinstance(error, ProfileNotFound):
        return f"{error}: set AWS_PROFILE to a profile of ~/.aws/config, or unset it"
    return None


def drs_endpoint() -> str | None:
    """The DRS endpoint the SDK is pointed at instead of AWS, if any (service-specific variable first)."""
    return os.environ.get("AWS_ENDPOINT_URL_DRS") or os.environ.get("AWS_ENDPOINT_URL") or None
