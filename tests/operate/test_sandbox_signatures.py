"""The sandbox knows who signed a request as AWS does (drsctl/sandbox/signatures.py): the signature recomputed with
the key's secret binds the method, the URL, the signed headers and the body."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto import mock_aws

from drsctl.sandbox.signatures import DEFAULT_KEY, DEFAULT_PRINCIPAL, NotSigned, create_default_principal, signer

URL = "http://127.0.0.1:4566/lambda-url/answer-approval/"
APPROVE = json.dumps({"ExecutionId": "exec-1", "Wave": 2, "Step": "CAB", "Decision": "APPROVE"}).encode()
OTHER = json.dumps({"ExecutionId": "exec-9", "Wave": 1, "Step": "CAB", "Decision": "APPROVE"}).encode()


@pytest.fixture
def sandbox_iam() -> Iterator[None]:
    with mock_aws():
        create_default_principal()
        yield


def signed(body: bytes, *, content_hash: bool) -> dict[str, str]:
    """Headers of a POST signed by the default principal; with `content_hash`, the body's SHA-256 is a signed
    header (as S3-style signers and tools such as awscurl send it)."""
    headers = {"Content-Type": "application/json"}
    if content_hash:
        headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    request = AWSRequest(method="POST", url=URL, data=body, headers=headers)
    SigV4Auth(Credentials(DEFAULT_KEY, DEFAULT_KEY), "lambda", "us-east-1").add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize("content_hash", [False, True])
def test_a_signed_request_names_its_signer_and_another_body_under_its_signature_is_refused(sandbox_iam, content_hash):
    headers = signed(APPROVE, content_hash=content_hash)
    assert signer("POST", URL, headers, APPROVE, "lambda").arn == DEFAULT_PRINCIPAL
    # a captured request replayed with another body (another execution, wave or decision): the signature no longer
    # holds, whether the body's hash was a signed header or computed from the body
    with pytest.raises(NotSigned):
        signer("POST", URL, headers, OTHER, "lambda")
