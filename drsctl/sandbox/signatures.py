"""Who signed a request to the sandbox, checked as AWS checks it: the SigV4 signature recomputed with the secret of the
access key it names, from the sandbox's IAM (moto's), so the approval URL knows its caller the way AWS does.

The sandbox's default credentials (`sandbox` / `sandbox`, the ones it prints) are the access key of the IAM user
`sandbox-operator`: that user is the default principal, and STS GetCallerIdentity says so (answered here from the
signature: moto's STS knows only 20-character access key IDs). Users created in the
sandbox's IAM with access keys (`aws iam create-user`, `create-access-key`), and roles assumed through its STS, sign
as themselves. Only who signed is checked, not what their policies allow (docs/approvals.md, In the sandbox).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from drsctl.emulator.protocol import HttpResponse
from drsctl.local.function_url import Principal
from drsctl.local.rehearsal import ACCOUNT, REGION

DEFAULT_USER = "sandbox-operator"
DEFAULT_KEY = "sandbox"  # access key ID and secret: what `drsctl sandbox` prints to export
DEFAULT_PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:user/{DEFAULT_USER}"
SKEW = timedelta(minutes=15)  # how far a request's X-Amz-Date may be from the wall clock (AWS: 5 to 15 minutes)
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


class NotSigned(Exception):
    """The request is unsigned, or its signature does not match the key it names: AWS answers 403."""


def create_default_principal() -> None:
    """The IAM user whose access key is `sandbox` / `sandbox` (moto draws its keys at random: this one is renamed)."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName=DEFAULT_USER)
    created = iam.create_access_key(UserName=DEFAULT_USER)["AccessKey"]["AccessKeyId"]
    backend = iam_backends[ACCOUNT]["aws"]
    key = backend.access_keys.pop(created)
    key.access_key_id = key.secret_access_key = DEFAULT_KEY
    backend.access_keys[DEFAULT_KEY] = key


def signer(method: str, url: str, headers: dict[str, str], body: bytes, service: str) -> Principal:
    """The principal whose credentials signed this request for `service`; NotSigned otherwise."""
    lower = {name.lower(): value for name, value in headers.items()}
    match = _AUTHORIZATION.match(lower.get("authorization", ""))
    if match is None:
        raise NotSigned("Missing Authentication Token: the request is not signed with SigV4")
    if match["service"] != service:
        raise NotSigned(f"the request is signed for the service {match['service']!r}, not {service!r}")
    stamp = lower.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise NotSigned("the request has no valid X-Amz-Date") from None
    if match["date"] != stamp[:8]:
        raise NotSigned(f"the credential scope's date {match['date']} is not the date of X-Amz-Date {stamp}")
    if abs(datetime.now(tz=UTC) - signed_at) > SKEW:
        raise NotSigned(f"Signature expired: the request was signed at {stamp}, more than 15 minutes from now")
    principal, secret = _key_owner(match["key"], lower.get("x-amz-security-token"))
    names = match["signed"].split(";")
    if "host" not in names:
        raise NotSigned("the signature does not cover the Host header")
    declared = lower.get("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(body).hexdigest():
        # botocore's canonical request takes this header's hash as the body's: unchecked, a captured request that
        # signed it could carry any other body (another decision, step or execution). AWS compares them; so do we.
        raise NotSigned("The provided 'x-amz-content-sha256' header does not match what was computed")
    request = AWSRequest(method=method, url=url, data=body, headers={n: lower[n] for n in names if n in lower})
    request.context["timestamp"] = stamp
    auth = SigV4Auth(Credentials(match["key"], secret), match["service"], match["region"])
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise NotSigned(
            "The request signature we calculated does not match the signature you provided: check the secret key"
        )
    return principal


def _key_owner(key_id: str, session_token: str | None) -> tuple[Principal, str]:
    """(the principal, its secret) for an access key of the sandbox's IAM users or of a role assumed through STS."""
    if session_token is None:
        backend = iam_backends[ACCOUNT]["aws"]
        for user in backend.users.values():
            for key in user.access_keys:
                if key.access_key_id == key_id and key.status == "Active":
                    return Principal(arn=user.arn, user_id=user.id, access_key=key_id), key.secret_access_key
    else:
        assumed = sts_backends[ACCOUNT]["aws"].get_assumed_role_from_access_key(key_id)
        if assumed is not None and hmac.compare_digest(assumed.session_token, session_token):
            return Principal(arn=assumed.arn, user_id=assumed.user_id, access_key=key_id), assumed.secret_access_key
    raise NotSigned(f"The security token included in the request is invalid: no access key {key_id} in the sandbox")


STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


def caller_identity(method: str, url: str, headers: dict[str, str], body: bytes) -> HttpResponse | None:
    """STS GetCallerIdentity for a request signed by a key of the sandbox's IAM: who signed it, as the approval URL
    sees it. None for any other request (moto answers it)."""
    if dict(parse_qsl(body.decode("utf-8", "replace"))).get("Action") != "GetCallerIdentity":
        return None
    try:
        principal = signer(method, url, headers, body, "sts")
    except NotSigned:
        return None
    root = ElementTree.Element("GetCallerIdentityResponse", xmlns=STS_NAMESPACE)
    result = ElementTree.SubElement(root, "GetCallerIdentityResult")
    for tag, text in (("Arn", principal.arn), ("UserId", principal.user_id), ("Account", principal.account)):
        ElementTree.SubElement(result, tag).text = text
    ElementTree.SubElement(ElementTree.SubElement(root, "ResponseMetadata"), "RequestId").text = str(uuid.uuid4())
    return HttpResponse(200, {"Content-Type": "text/xml"}, ElementTree.tostring(root, encoding="utf-8"))
