"""The wire layer: DRS's rest-json protocol, driven entirely by botocore's `drs` service model.

Routes come from each operation's `http.method` + `http.requestUri`, input members are read from the body, URI,
query string or headers as the model places them, responses and errors are shaped by the model's output and error
shapes, and pagination follows the model's paginator declarations. The behaviour (jobs, servers, quotas, faults)
lives in `model.py`; this module only translates between HTTP and that model.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from drsctl.emulator.errors import DropResponse, DrsError, InternalServerException, ValidationException
from drsctl.emulator.validation import validate_input

# The operations the emulator implements. Everything else in the model answers unknownOperation.
OPERATIONS = (
    "StartRecovery",
    "DescribeJobs",
    "DescribeSourceServers",
    "DescribeRecoveryInstances",
    "TerminateRecoveryInstances",
    "DescribeJobLogItems",
    "DescribeRecoverySnapshots",
    "GetLaunchConfiguration",
    "ListLaunchActions",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)
DEFAULT_PAGE_SIZE = 100


class Backend(Protocol):
    """What the protocol layer needs from the behavioural model."""

    def invoke(
        self, operation: str, region: str, params: dict[str, Any], caller: str | None = None
    ) -> dict[str, Any]: ...


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    method: str
    path_regex: re.Pattern[str]


def _route_for(operation: OperationModel) -> Route:
    uri = operation.http["requestUri"].split("?", 1)[0]
    pattern = ""
    for part in re.split(r"(\{[^}]+\})", uri):
        if part.startswith("{"):
            name = part[1:-1]
            greedy = name.endswith("+")
            pattern += f"(?P<{name.rstrip('+')}>{'.+' if greedy else '[^/]+'})"
        else:
            pattern += re.escape(part)
    return Route(operation, operation.http["method"], re.compile(f"^{pattern}/?$"))


class DrsProtocol:
    """Turns HTTP requests into backend calls and backend results (or DrsErrors) into HTTP responses."""

    def __init__(self, backend: Backend, default_region: str, request_ids: Callable[[], str] | None = None) -> None:
        self.backend = backend
        self.default_region = default_region
        self.request_ids = request_ids or (lambda: str(uuid.uuid4()))  # the emulator's: from the scenario's seed

    @cached_property
    def service_model(self) -> ServiceModel:
        return botocore.session.get_session().get_service_model("drs")

    @cached_property
    def paginators(self) -> dict[str, dict[str, Any]]:
        loader = botocore.session.get_session().get_component("data_loader")
        declared: dict[str, dict[str, Any]] = loader.load_service_model("drs", "paginators-1")["pagination"]
        return declared

    @cached_property
    def routes(self) -> list[Route]:
        return [_route_for(self.service_model.operation_model(name)) for name in OPERATIONS]

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> HttpResponse:
        """Answer one HTTP request. DropResponse propagates: the server closes the connection unanswered."""
        request_id = self.request_ids()
        try:
            operation, params = self._parse(method, target, headers, body)
            region = self._region(headers)
            validate_input(operation.input_shape, params)
            result = self._call(operation, region, params, request_access_key(headers))
            response = self._serialize(operation, result)
        except DrsError as error:
            response = self._serialize_error(error)
        except DropResponse:
            raise
        except Exception as error:  # noqa: BLE001 - an emulator bug must still reach the client as a 500
            response = self._serialize_error(InternalServerException(f"emulator error: {error!r}"))
        response.headers["x-amzn-RequestId"] = request_id
        return response

    # -- requests -----------------------------------------------------------------------------------------------

    def _parse(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[OperationModel, dict[str, Any]]:
        url = urlsplit(target)
        for route in self.routes:
            match = route.path_regex.match(url.path)
            if route.method == method and match:
                return route.operation, self._read_members(route, match, url.query, headers, body)
        raise ValidationException(f"No DRS operation at {method} {url.path}", reason="unknownOperation", fields=None)

    def _read_members(
        self, route: Route, match: re.Match[str], query: str, headers: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        shape = route.operation.input_shape
        params: dict[str, Any] = {}
        if body.strip():
            try:
                params = json.loads(body)
            except (ValueError, UnicodeDecodeError) as error:
                raise ValidationException(f"Request body is not valid JSON: {error}", reason="cannotParse") from error
            if not isinstance(params, dict):
                raise ValidationException("Request body must be a JSON object", reason="cannotParse")
        if shape is None:
            return params
        query_values = parse_qs(query, keep_blank_values=True)
        lowered_headers = {name.lower(): value for name, value in headers.items()}
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire_name = member.serialization.get("name", name)
            if location == "uri":
                params[name] = unquote(match.group(wire_name))
            elif location == "querystring" and wire_name in query_values:
                values = query_values[wire_name]
                params[name] = values if member.type_name == "list" else _scalar(member, values[0])
            elif location == "header" and wire_name.lower() in lowered_headers:
                params[name] = _scalar(member, lowered_headers[wire_name.lower()])
        return params

    def _region(self, headers: dict[str, str]) -> str:
        return request_region("drs", headers, self.default_region)

    def _call(
        self, operation: OperationModel, region: str, params: dict[str, Any], caller: str | None
    ) -> dict[str, Any]:
        paging = self.paginators.get(operation.name)
        if paging is None:
            return self.backend.invoke(operation.name, region, params, caller)
        token = params.pop(paging["input_token"], None)
        limit = params.pop(paging["limit_key"], None) or DEFAULT_PAGE_SIZE
        result = self.backend.invoke(operation.name, region, params, caller)
        items = result[paging["result_key"]]
        start = _decode_token(token, len(items))
        result[paging["result_key"]] = items[start : start + limit]
        if start + limit < len(items):
            result[paging["output_token"]] = _encode_token(start + limit)
        return result

    # -- responses ----------------------------------------------------------------------------------------------

    def _serialize(self, operation: OperationModel, result: dict[str, Any]) -> HttpResponse:
        status = int(operation.http.get("responseCode", 200))
        headers, body = _split_members(operation.output_shape, result)
        return _json_response(status, headers, body)

    def _serialize_error(self, error: DrsError) -> HttpResponse:
        shape = self.service_model.shape_for(error.code)
        assert isinstance(shape, StructureShape)
        values = {"message": error.message, **error.fields}
        if "code" in shape.members:
            values["code"] = error.code
        headers, body = _split_members(shape, values)
        headers["x-amzn-ErrorType"] = error.code
        return _json_response(int(shape.metadata["error"]["httpStatusCode"]), headers, body)


def _split_members(shape: StructureShape | None, values: dict[str, Any]) -> tuple[dict[str, str], Any]:
    """Split a result into header members and the JSON body, keeping only what the shape declares."""
    headers: dict[str, str] = {}
    body: dict[str, Any] = {}
    if shape is None:
        return headers, body
    for name, member in shape.members.items():
        value = values.get(name)
        if value is None:
            continue
        if member.serialization.get("location") == "header":
            headers[member.serialization.get("name", name)] = str(value)
        else:
            body[name] = _shaped(member, value)
    return headers, body


def _shaped(shape: Shape, value: Any) -> Any:
    """Drop anything the model does not declare, so the emulator cannot leak shapes real DRS never returns."""
    if shape.type_name == "structure" and isinstance(value, dict):
        assert isinstance(shape, StructureShape)
        return {
            name: _shaped(shape.members[name], item)
            for name, item in value.items()
            if name in shape.members and item is not None
        }
    if shape.type_name == "list" and isinstance(value, list):
        return [_shaped(shape.member, item) for item in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {key: _shaped(shape.value, item) for key, item in value.items()}
    return value


def _json_response(status: int, headers: dict[str, str], body: Any) -> HttpResponse:
    headers["Content-Type"] = "application/json"
    return HttpResponse(status, headers, json.dumps(body).encode())


def _scalar(member: Shape, text: str) -> Any:
    if member.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text  # left as a string so validation names the field
    if member.type_name == "boolean":
        return text.lower() == "true"
    return text


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None, total: int) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValidationException(
            "nextToken is not a token this service issued",
            fields=[{"name": "nextToken", "message": "invalid pagination token"}],
        ) from error
    if not 0 <= offset <= total:
        raise ValidationException(
            "nextToken is out of range", fields=[{"name": "nextToken", "message": "token out of range"}]
        )
    return offset


def request_access_key(headers: dict[str, str]) -> str | None:
    """The access key ID a request is signed with (SigV4 `Credential=<key>/...`): whose account it is for."""
    authorization = next((value for name, value in headers.items() if name.lower() == "authorization"), "")
    signed = re.search(r"Credential=([^/,\s]+)/", authorization)
    return signed.group(1) if signed else None


def request_region(service: str, headers: dict[str, str], default: str) -> str:
    """The region a request is for: its SigV4 credential scope (`Credential=.../<region>/<service>/aws4_request`),
    else a `<service>.<region>.amazonaws.com` Host header, else `default`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    scope = re.search(
        rf"Credential=[^/,\s]+/\d{{8}}/([a-z0-9-]+)/{service}/aws4_request", lowered.get("authorization", "")
    )
    if scope:
        return scope.group(1)
    host = re.match(rf"^{service}[.-](?:fips\.)?([a-z0-9-]+)\.amazonaws\.com", lowered.get("host", ""))
    return host.group(1) if host else default
