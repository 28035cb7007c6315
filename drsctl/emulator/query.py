"""The wire layer of EC2's query protocol, driven by botocore's `ec2` service model (as `protocol.py` is for DRS).

A request is a form-encoded POST (`Action=...&Version=...&InstanceId.1=...`); its members are read back into the
operation's input shape by the names botocore's EC2 serializer writes (`queryName`, else the capitalized
`locationName`, lists as `Name.N`). A result is serialized into XML from the output shape (`locationName` elements,
lists as `<item>`), an error into EC2's `<Response><Errors><Error>` envelope. The behaviour lives in `ec2.py`.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import botocore.session
from botocore.model import ListShape, OperationModel, ServiceModel, Shape, StructureShape

from drsctl.emulator.protocol import HttpResponse, request_access_key, request_region

_ENVELOPE_KEYS = ("Action", "Version")


class Ec2Error(Exception):
    """An error EC2 would return: `code` is EC2's error code (InvalidInstanceID.NotFound, ...)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# One EC2 operation: (region, the request members as botocore names them, the caller's access key ID) -> the result
# members.
Ec2Handler = Callable[[str, dict[str, Any], str | None], dict[str, Any]]


@cache
def ec2_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("ec2")


@cache
def ec2_paginators() -> dict[str, dict[str, Any]]:
    loader = botocore.session.get_session().get_component("data_loader")
    declared: dict[str, dict[str, Any]] = loader.load_service_model("ec2", "paginators-1")["pagination"]
    return declared


def is_query_request(method: str, headers: dict[str, str], body: bytes) -> bool:
    """An EC2 request: signed for the `ec2` service, or a form-encoded POST naming an `Action`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if "/ec2/aws4_request" in lowered.get("authorization", ""):
        return True
    form = lowered.get("content-type", "").startswith("application/x-www-form-urlencoded")
    return method == "POST" and form and any(key == "Action" for key, _ in parse_qsl(body.decode(errors="replace")))


class QueryProtocol:
    """Turns EC2 query requests into handler calls and results (or Ec2Errors) into EC2's XML."""

    def __init__(
        self, handlers: dict[str, Ec2Handler], default_region: str, request_ids: Callable[[], str] | None = None
    ) -> None:
        self.handlers = handlers
        self.default_region = default_region
        self.request_ids = request_ids or (lambda: str(uuid.uuid4()))  # the emulator's: from the scenario's seed

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> HttpResponse:
        request_id = self.request_ids()
        try:
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
            action = form.get("Action", "")
            handler = self.handlers.get(action)
            if handler is None:
                raise Ec2Error("InvalidAction", f"The action {action} is not valid for this web service.")
            operation = ec2_model().operation_model(action)
            params = read_members(operation, form)
            result = handler(self._region(headers), params, request_access_key(headers))
            return _xml_response(200, serialize_result(operation, result, request_id))
        except Ec2Error as error:
            return _xml_response(error.status, serialize_error(error, request_id))
        except Exception as error:  # noqa: BLE001 - an emulator bug must still reach the client as a 500
            failure = Ec2Error("InternalError", f"emulator error: {error!r}", status=500)
            return _xml_response(500, serialize_error(failure, request_id))

    def _region(self, headers: dict[str, str]) -> str:
        return request_region("ec2", headers, self.default_region)


# -- requests ---------------------------------------------------------------------------------------------------


def read_members(operation: OperationModel, form: dict[str, str]) -> dict[str, Any]:
    """The input members of `operation` from the form, named as botocore names them; unknown keys are refused."""
    shape = operation.input_shape
    used: set[str] = set()
    params = _read(shape, form, "", used) if shape is not None else {}
    unknown = sorted(key for key in form if key not in used and key not in _ENVELOPE_KEYS)
    if unknown:
        raise Ec2Error("UnknownParameter", f"The parameter {unknown[0]} is not recognized")
    return params or {}


def _wire_name(member: Shape, name: str) -> str:
    """The name botocore's EC2Serializer gives a member: queryName, else the capitalized locationName."""
    if "queryName" in member.serialization:
        return str(member.serialization["queryName"])
    location: str = member.serialization.get("name", name)
    return location[0].upper() + location[1:]


def _read(shape: Shape, form: dict[str, str], prefix: str, used: set[str]) -> Any:
    if isinstance(shape, StructureShape):
        values = {}
        for name, member in shape.members.items():
            key = _wire_name(member, name)
            value = _read(member, form, f"{prefix}.{key}" if prefix else key, used)
            if value is not None:
                values[name] = value
        return values if values or not prefix else None
    if isinstance(shape, ListShape):
        if prefix in form:  # botocore sends an empty list as `Name=`
            used.add(prefix)
            return []
        element = re.compile(re.escape(prefix) + r"\.(\d+)(?:\.|$)")
        indices = sorted({int(match.group(1)) for key in form if (match := element.match(key))})
        return [_read(shape.member, form, f"{prefix}.{index}", used) for index in indices] or None
    if prefix not in form:
        return None
    used.add(prefix)
    return _scalar(shape, prefix, form[prefix])


def _scalar(shape: Shape, key: str, text: str) -> Any:
    if shape.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise Ec2Error("InvalidParameterValue", f"Invalid value '{text}' for {key}") from None
    if shape.type_name == "boolean":
        if text.lower() not in ("true", "false"):
            raise Ec2Error("InvalidParameterValue", f"Invalid value '{text}' for {key}: expected true or false")
        return text.lower() == "true"
    return text


# -- responses --------------------------------------------------------------------------------------------------


def serialize_result(operation: OperationModel, result: dict[str, Any], request_id: str) -> ElementTree.Element:
    namespace = ec2_model().metadata["xmlNamespace"].rstrip("/") + "/"
    root = ElementTree.Element(f"{operation.name}Response", xmlns=namespace)
    ElementTree.SubElement(root, "requestId").text = request_id
    shape = operation.output_shape
    if isinstance(shape, StructureShape):
        _write_members(root, shape, result)
    return root


def serialize_error(error: Ec2Error, request_id: str) -> ElementTree.Element:
    root = ElementTree.Element("Response")
    item = ElementTree.SubElement(ElementTree.SubElement(root, "Errors"), "Error")
    ElementTree.SubElement(item, "Code").text = error.code
    ElementTree.SubElement(item, "Message").text = error.message
    ElementTree.SubElement(root, "RequestID").text = request_id
    return root


def _write_members(parent: ElementTree.Element, shape: StructureShape, values: dict[str, Any]) -> None:
    """Only what the shape declares, in the shape's order, so nothing EC2 never returns can leak out."""
    for name, member in shape.members.items():
        value = values.get(name)
        if value is not None:
            _write(parent, member, value, member.serialization.get("name", name))


def _write(parent: ElementTree.Element, shape: Shape, value: Any, name: str) -> None:
    element = ElementTree.SubElement(parent, name)
    if isinstance(shape, StructureShape):
        _write_members(element, shape, value)
    elif isinstance(shape, ListShape):
        item_name = shape.member.serialization.get("name", "member")
        for item in value:
            _write(element, shape.member, item, item_name)
    elif shape.type_name == "boolean":
        element.text = "true" if value else "false"
    elif shape.type_name == "timestamp":
        element.text = datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    else:
        element.text = str(value)


def _xml_response(status: int, root: ElementTree.Element) -> HttpResponse:
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode")
    return HttpResponse(status, {"Content-Type": "text/xml;charset=UTF-8"}, text.encode())


# -- pagination -------------------------------------------------------------------------------------------------


def paginate(operation: str, params: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Cut the full result to the page `params` asks for (the paginator's limit and token); no limit: everything."""
    paging = ec2_paginators()[operation]
    items = result[paging["result_key"]]
    token = params.get(paging["input_token"])
    limit = params.get(paging["limit_key"]) or len(items)
    start = _decode_token(token, len(items))
    result[paging["result_key"]] = items[start : start + limit]
    if start + limit < len(items):
        token_text = json.dumps({"offset": start + limit})
        result[paging["output_token"]] = base64.urlsafe_b64encode(token_text.encode()).decode()
    return result


def _decode_token(token: str | None, total: int) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError):
        raise Ec2Error("InvalidPaginationToken", f"Invalid pagination token: {token}") from None
    if not 0 <= offset <= total:
        raise Ec2Error("InvalidPaginationToken", f"The pagination token {token} is out of range")
    return offset
