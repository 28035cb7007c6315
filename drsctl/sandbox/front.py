"""The sandbox's one HTTP endpoint: each request goes where its SigV4 credential scope says.

`drs` goes to the DRS emulator's rest-json layer, `ec2` to its EC2 view (DescribeInstanceStatus and what a launch
needs) and `servicequotas` to its Service Quotas, `cloudformation` to the stack's outputs, every other service (Step
Functions, DynamoDB, Lambda, SNS, IAM, STS, S3, EventBridge Scheduler, CloudWatch, EventBridge) to moto's own request
handlers: the request is handed to moto as if it had been sent to `https://<service>.<region>.amazonaws.com`, which is
what moto's in-process mock does for any boto3 client, so the answers are byte for byte those of `mock_aws`. The
approval URL's path goes to the answer function, as its function URL would (drsctl/sandbox/approval_url.py).
"""

from __future__ import annotations

import json
import re
import sys
import threading
from dataclasses import dataclass
from email.utils import formatdate
from functools import cache
from http.server import ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders
from botocore.loaders import Loader
from moto.core.models import botocore_stubber

from drsctl.emulator import DrsEmulator, ec2
from drsctl.emulator.errors import DropResponse
from drsctl.emulator.protocol import DrsProtocol, HttpResponse
from drsctl.emulator.query import QueryProtocol
from drsctl.emulator.quotas import QuotasProtocol
from drsctl.emulator.server import LoopbackHandler
from drsctl.sandbox.approval_url import APPROVAL_PATH, ApprovalUrl
from drsctl.sandbox.cloudformation import StackOutputs
from drsctl.sandbox.signatures import caller_identity

_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
GLOBAL_SERVICES = {"iam": "https://iam.amazonaws.com"}


def signed_for(headers: dict[str, str]) -> tuple[str, str] | None:
    """(region, service) from a SigV4 Authorization header, or None for an unsigned request."""
    authorization = next((value for name, value in headers.items() if name.lower() == "authorization"), "")
    scope = _SCOPE.search(authorization)
    return (scope.group(1), scope.group(2)) if scope else None


class Router:
    """What answers each request (the HTTP layer below only moves bytes)."""

    def __init__(self, emulator: DrsEmulator, stack: StackOutputs, approval_url: ApprovalUrl | None = None) -> None:
        self.drs = DrsProtocol(emulator, default_region=emulator.scenario.region, request_ids=emulator.request_id)
        self.ec2 = QueryProtocol(
            ec2.handlers(emulator), default_region=emulator.scenario.region, request_ids=emulator.request_id
        )
        self.quotas = QuotasProtocol(emulator)
        self.stack = stack
        self.approval_url = approval_url
        self.clock = emulator.clock  # the sandbox's: every answer's Date header tells its time
        self.home_region = emulator.scenario.region

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> HttpResponse:
        if self.approval_url is not None and path.split("?", 1)[0] == APPROVAL_PATH:
            return self.approval_url.handle(method, path, headers, body)  # it checks the signature itself, as AWS
        signed = signed_for(headers)
        if signed is None:
            return HttpResponse(
                403,
                {"Content-Type": "text/plain"},
                b"The sandbox answers AWS SDK requests signed with SigV4: set any AWS_ACCESS_KEY_ID and "
                b"AWS_SECRET_ACCESS_KEY (the sandbox prints them) and point AWS_ENDPOINT_URL here.\n",
            )
        region, service = signed
        if region not in aws_regions():
            return unknown_region(headers, region, self.home_region)
        ours = self._ours(service, region, method, path, headers, body)
        return ours if ours is not None else _moto(method, path, headers, body, service=service, region=region)

    def _ours(  # noqa: PLR0917 - the request as the router has it
        self, service: str, region: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> HttpResponse | None:
        """The services the sandbox answers itself (CloudFormation in the stack's Region only); None: moto answers."""
        if service == "drs":
            return self.drs.handle(method, path, headers, body)
        if service == "ec2":
            return self.ec2.handle(method, path, headers, body)
        if service == "servicequotas":
            return self.quotas.handle(headers, body)
        if service == "cloudformation":
            return self.stack.handle(body, region)
        if service == "sts":  # GetCallerIdentity from the signature (drsctl/sandbox/signatures.py)
            host = next((value for name, value in headers.items() if name.lower() == "host"), "")
            return caller_identity(method, f"http://{host}{path}", headers, body)
        return None


def _moto(method: str, path: str, headers: dict[str, str], body: bytes, *, service: str, region: str) -> HttpResponse:
    base = GLOBAL_SERVICES.get(service, f"https://{service}.{region}.amazonaws.com")
    forwarded = HTTPHeaders()
    for name, value in headers.items():
        if name.lower() != "host":
            forwarded[name] = value
    forwarded["Host"] = base.split("://", 1)[1]
    request = AWSPreparedRequest(method=method, url=base + path, headers=forwarded, body=body, stream_output=False)
    answer: Any = botocore_stubber.process_request(request)
    if answer is None:
        return HttpResponse(404, {"Content-Type": "text/plain"}, f"The sandbox does not serve {service}\n".encode())
    status, response_headers, response_body = answer
    if isinstance(response_body, str):
        response_body = response_body.encode("utf-8")
    plain = {str(name): str(value) for name, value in dict(response_headers or {}).items()}
    plain = {name: value for name, value in plain.items() if name.lower() not in ("content-length", "date")}
    return HttpResponse(int(status), plain, response_body or b"")


@cache
def aws_regions() -> frozenset[str]:
    """Every Region of every AWS partition botocore knows (its endpoints data), and `aws-global`."""
    partitions = Loader().load_data("endpoints")["partitions"]
    return frozenset({"aws-global", *(region for p in partitions for region in p.get("regions", {}))})


def unknown_region(headers: dict[str, str], region: str, home: str) -> HttpResponse:
    """A request signed for a Region AWS does not have (a typo in AWS_DEFAULT_REGION): an error in the request's own
    protocol that names the Region, where moto would fail with a KeyError (AWS itself has no endpoint there)."""
    message = f"{region} is not an AWS Region: the sandbox serves the stack in {home}; set AWS_DEFAULT_REGION={home}"
    names = {name.lower(): value for name, value in headers.items()}
    if "x-amz-target" in names:  # JSON protocol (Step Functions, DynamoDB)
        body = json.dumps({"__type": "InvalidRegion", "message": message}).encode()
        return HttpResponse(400, {"Content-Type": "application/x-amz-json-1.0"}, body)
    if names.get("content-type", "").startswith("application/x-www-form-urlencoded"):  # query (SNS, STS, EC2, ...)
        xml = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidRegion</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>sandbox</RequestId></ErrorResponse>"
        )
        return HttpResponse(400, {"Content-Type": "text/xml"}, xml.encode())
    body = json.dumps({"message": message}).encode()  # rest-json (DRS, Lambda)
    return HttpResponse(400, {"Content-Type": "application/json", "x-amzn-ErrorType": "InvalidRegion"}, body)


class _Handler(LoopbackHandler):
    server: _FrontServer

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header in the sandbox's time (it runs --speed times faster), as AWS's tells AWS's: `drsctl run`
        reads the stack's clock from it."""
        return formatdate(self.server.router.clock.now() if timestamp is None else timestamp, usegmt=True)

    def respond(self, headers: dict[str, str], body: bytes) -> HttpResponse:
        self.verbose = self.server.verbose
        try:
            return self.server.router.handle(self.command, self.path, headers, body)
        except DropResponse:
            raise
        except Exception as error:  # noqa: BLE001 - an error in one request must answer it, not kill the thread
            message = f"sandbox error: {type(error).__name__}: {error}\n".encode()
            return HttpResponse(500, {"Content-Type": "text/plain"}, message)


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], router: Router, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.router = router
        self.verbose = verbose

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (it reset its kept-alive connection: a process that exits, a pooled connection
        dropped) is no error of the sandbox's: nothing to print. Anything else is printed as socketserver does."""
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)


@dataclass
class RunningFront:
    endpoint: str
    http_server: _FrontServer

    def stop(self) -> None:
        self.http_server.shutdown()
        self.http_server.server_close()


def serve(router: Router, host: str, port: int, verbose: bool = False) -> RunningFront:
    """Serve `router` on a background thread; returns once it accepts connections (port 0: any free port)."""
    http_server = _FrontServer((host, port), router, verbose)
    thread = threading.Thread(
        target=http_server.serve_forever, kwargs={"poll_interval": 0.05}, name="drs-sandbox", daemon=True
    )
    thread.start()
    bound_host, bound_port = http_server.server_address[:2]
    return RunningFront(f"http://{bound_host!s}:{bound_port}", http_server)
