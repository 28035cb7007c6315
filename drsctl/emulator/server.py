"""Serve the emulator over HTTP on loopback, so boto3, the AWS CLI and the Lambdas reach it like real DRS.

One endpoint serves DRS (rest-json, `protocol.py`), EC2's view of the recovery instances and of what a launch needs
(the ec2 query protocol, `query.py`, `ec2.py`, `ec2_launch.py`): a request signed for `ec2`, or a form-encoded POST
with an `Action`, is EC2's; and Service Quotas' GetServiceQuota (`quotas.py`, a `ServiceQuotasV20190624.` target).
The standard library's threading HTTP server is enough here: one thread per connection, the model's lock keeps the
state consistent, and there is no dependency to pin or patch.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from drsctl.emulator import ec2
from drsctl.emulator.errors import DropResponse
from drsctl.emulator.model import DrsEmulator
from drsctl.emulator.protocol import DrsProtocol, HttpResponse
from drsctl.emulator.query import QueryProtocol, is_query_request
from drsctl.emulator.quotas import QuotasProtocol, is_quotas_request


class LoopbackHandler(BaseHTTPRequestHandler):
    """One request answered by `respond` (the emulator's, or the sandbox's router): every method, keep-alive, and a
    response whose body is never held back."""

    protocol_version = "HTTP/1.1"  # keep-alive: botocore pools connections
    # Headers and body leave in two writes; with Nagle's algorithm the body then waits for the client's delayed
    # ACK (about 40 ms a request on Linux). Every DRS call of a rehearsal paid that before this.
    disable_nagle_algorithm = True
    verbose = False

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def respond(self, headers: dict[str, str], body: bytes) -> HttpResponse:
        raise NotImplementedError

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            response = self.respond(dict(self.headers.items()), body)
        except DropResponse:
            self.close_connection = True  # the operation took effect; the caller never hears of it
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        if self.verbose:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


class _DrsRequestHandler(LoopbackHandler):
    server: _DrsHttpServer

    def respond(self, headers: dict[str, str], body: bytes) -> HttpResponse:
        self.verbose = self.server.verbose
        if is_query_request(self.command, headers, body):
            return self.server.ec2.handle(self.command, self.path, headers, body)
        if is_quotas_request(headers):
            return self.server.quotas.handle(headers, body)
        return self.server.protocol.handle(self.command, self.path, headers, body)


class _DrsHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (its SDK timed out and closed the connection, Ctrl-C) is no error of the server's:
        socketserver would print a traceback on stderr for it. Anything else is printed as socketserver does."""
        if isinstance(sys.exc_info()[1], ConnectionError):  # ConnectionResetError, BrokenPipeError, ...
            return
        super().handle_error(request, client_address)

    def __init__(
        self, address: tuple[str, int], protocol: DrsProtocol, ec2: QueryProtocol, quotas: QuotasProtocol, verbose: bool
    ) -> None:
        super().__init__(address, _DrsRequestHandler)
        self.protocol = protocol
        self.ec2 = ec2
        self.quotas = quotas
        self.verbose = verbose


@dataclass
class RunningEmulator:
    emulator: DrsEmulator
    endpoint: str
    http_server: _DrsHttpServer

    def stop(self) -> None:
        self.http_server.shutdown()
        self.http_server.server_close()


def start(emulator: DrsEmulator, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> RunningEmulator:
    """Serve `emulator` on a background thread; port 0 picks a free port. Returns once it accepts connections."""
    protocol = DrsProtocol(emulator, default_region=emulator.scenario.region, request_ids=emulator.request_id)
    query = QueryProtocol(
        ec2.handlers(emulator), default_region=emulator.scenario.region, request_ids=emulator.request_id
    )
    http_server = _DrsHttpServer((host, port), protocol, query, QuotasProtocol(emulator), verbose)
    # A short poll interval: shutdown() waits up to one interval, and tests start and stop many emulators.
    thread = threading.Thread(
        target=http_server.serve_forever, kwargs={"poll_interval": 0.05}, name="drs-emulator", daemon=True
    )
    thread.start()
    bound_host, bound_port = http_server.server_address[:2]
    return RunningEmulator(emulator, f"http://{bound_host!s}:{bound_port}", http_server)


@contextmanager
def serving(emulator: DrsEmulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningEmulator]:
    running = start(emulator, host, port)
    try:
        yield running
    finally:
        running.stop()
