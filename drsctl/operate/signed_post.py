"""A JSON POST signed with the caller's own AWS credentials (SigV4), as a Lambda function URL with AuthType AWS_IAM
takes it: how `drsctl run approve` answers, so that AWS, not the CLI, says who answered (docs/approvals.md).

botocore does everything: the credentials chain (profile, SSO, role, environment), the signature (SigV4Auth, service
`lambda`) and the HTTP session with the environment's proxies and CA bundle. No new dependency.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import URLLib3Session
from botocore.utils import get_environ_proxies

# connect, read: the read outlasts the answer function's own timeout (150 s; it answers in well under a second),
# so drsctl never gives up on an answer the function is still recording
TIMEOUT = (5.0, 160.0)


class NoCredentials(Exception):
    """No AWS credentials to sign with: the message says where botocore looks."""


def post_json(url: str, body: dict[str, Any], *, region: str, service: str = "lambda") -> tuple[int, dict[str, Any]]:
    """POST `body` to `url`, signed for `service` in `region`: (HTTP status, the JSON answer, {} when not JSON)."""
    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise NoCredentials(
            "no AWS credentials to sign the answer with: set AWS_PROFILE (or run aws sso login, or export "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); your identity is what is recorded"
        )
    request = AWSRequest(
        method="POST", url=url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    SigV4Auth(credentials.get_frozen_credentials(), service, region).add_auth(request)
    response = URLLib3Session(proxies=get_environ_proxies(url), timeout=TIMEOUT).send(request.prepare())
    try:
        answered = json.loads(response.content or b"{}")
    except ValueError:
        answered = {"Message": response.content.decode("utf-8", "replace")[:500]}
    return response.status_code, answered if isinstance(answered, dict) else {}
