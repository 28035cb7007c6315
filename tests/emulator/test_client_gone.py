"""A client that goes away mid-connection (its SDK timed out and closed it, reset) is no error of the servers': the
emulator and the sandbox's endpoint print no traceback for it (a sandbox stopped with Ctrl-C after one printed
'Exception occurred during processing of request ... ConnectionResetError') and go on answering."""

from __future__ import annotations

import socket
import struct
import time
import urllib.error
import urllib.request

import pytest

from drsctl.emulator import DrsEmulator
from drsctl.emulator.scenario import Scenario
from drsctl.sandbox import front
from drsctl.sandbox.cloudformation import StackOutputs
from tests.conftest import estate


def _reset_connection(endpoint: str) -> None:
    """Connect, send half a request line, and close with a TCP reset (SO_LINGER 0), as a killed client does."""
    host, port = endpoint.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as client:
        client.sendall(b"GET / HT")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _still_answers(endpoint: str) -> int:
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:  # an unsigned request is refused: it was answered all the same
        return int(refused.code)


@pytest.mark.parametrize("server", ["emulator", "sandbox front"])
def test_a_client_that_resets_its_connection_prints_no_traceback(server, serve, clock, capfd):
    if server == "emulator":
        endpoint, stop = serve(estate(1)).endpoint, None
    else:
        emulator = DrsEmulator(Scenario.model_validate(estate(1)), clock)
        stack = StackOutputs("DrsOrchestrator", "us-east-1", "123456789012", {}, clock.now())
        running = front.serve(front.Router(emulator, stack), "127.0.0.1", 0)
        endpoint, stop = running.endpoint, running.stop
    try:
        for _ in range(3):
            _reset_connection(endpoint)
        time.sleep(0.5)  # the server's threads read the reset (no bound on speed: the check is what they printed)
        assert _still_answers(endpoint) in (200, 400, 403, 404)
    finally:
        if stop is not None:
            stop()
    printed = capfd.readouterr().err
    assert "Traceback" not in printed and "ConnectionResetError" not in printed, printed
