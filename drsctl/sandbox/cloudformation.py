"""CloudFormation's DescribeStacks for the one stack the sandbox stands in for: its outputs, as `cdk deploy` leaves
them, so `drsctl run --stack NAME` finds the sandbox's state machine and tables exactly as it finds a deployed stack.

moto's CloudFormation needs packages we do not install (it imports every service a template may name), and only
this one read is needed: the query protocol's XML is written here, as AWS answers it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from drsctl.emulator.protocol import HttpResponse

NAMESPACE = "http://cloudformation.amazonaws.com/doc/2010-05-15/"


class StackOutputs:
    """A stack named `name` with `outputs` (OutputKey -> OutputValue), answered to DescribeStacks."""

    def __init__(self, name: str, region: str, account: str, outputs: dict[str, str], created: float) -> None:
        self.name = name
        self.region = region
        self.outputs = outputs
        self.stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid4()}"
        self.created = datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def handle(self, body: bytes, region: str | None = None) -> HttpResponse:
        """DescribeStacks as CloudFormation answers it in `region` (the request's): a stack lives in one Region, so
        asked in another it does not exist there."""
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        action = form.get("Action", "")
        request_id = str(uuid.uuid4())
        if action != "DescribeStacks":
            return _error(400, "InvalidAction", f"The sandbox serves only DescribeStacks, not {action!r}", request_id)
        wanted = form.get("StackName")
        if wanted not in (None, self.name, self.stack_id) or region not in (None, self.region):
            return _error(400, "ValidationError", f"Stack with id {wanted} does not exist", request_id)
        root = ElementTree.Element("DescribeStacksResponse", xmlns=NAMESPACE)
        result = ElementTree.SubElement(root, "DescribeStacksResult")
        member = ElementTree.SubElement(ElementTree.SubElement(result, "Stacks"), "member")
        for tag, text in (
            ("StackName", self.name),
            ("StackId", self.stack_id),
            ("CreationTime", self.created),
            ("StackStatus", "CREATE_COMPLETE"),
            ("Description", "drsctl sandbox: the stack's APIs served locally"),
        ):
            ElementTree.SubElement(member, tag).text = text
        outputs = ElementTree.SubElement(member, "Outputs")
        for key, value in self.outputs.items():
            output = ElementTree.SubElement(outputs, "member")
            ElementTree.SubElement(output, "OutputKey").text = key
            ElementTree.SubElement(output, "OutputValue").text = value
        metadata = ElementTree.SubElement(root, "ResponseMetadata")
        ElementTree.SubElement(metadata, "RequestId").text = request_id
        return _xml(200, root)


def _error(status: int, code: str, message: str, request_id: str) -> HttpResponse:
    root = ElementTree.Element("ErrorResponse", xmlns=NAMESPACE)
    error = ElementTree.SubElement(root, "Error")
    ElementTree.SubElement(error, "Type").text = "Sender"
    ElementTree.SubElement(error, "Code").text = code
    ElementTree.SubElement(error, "Message").text = message
    ElementTree.SubElement(root, "RequestId").text = request_id
    return _xml(status, root)


def _xml(status: int, root: ElementTree.Element) -> HttpResponse:
    body = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return HttpResponse(status, {"Content-Type": "text/xml"}, body)
