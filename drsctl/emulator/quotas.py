"""Service Quotas' GetServiceQuota, served beside DRS: the On-Demand vCPU quota of each Region (scenario `capacity`).

The wire protocol is botocore's `json` (awsJson1.1, `X-Amz-Target: ServiceQuotasV20190624.<Operation>`), driven by
the `service-quotas` model: the operation from the target, its required members checked, the result shaped by the
output shape, errors named after the model's error shapes (`__type`, and `x-amzn-ErrorType` as AWS sends it).
Only EC2's L-1216C47A (Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances) is known; any other quota
is NoSuchResourceException, as for a quota that does not exist.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ServiceModel, Shape, StructureShape

from drsctl.emulator.model import DrsEmulator
from drsctl.emulator.protocol import HttpResponse, request_region

TARGET_PREFIX = "ServiceQuotasV20190624."
VCPU_QUOTA = "L-1216C47A"
OPERATIONS = ("GetServiceQuota",)


@cache
def quotas_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("service-quotas")


def is_quotas_request(headers: dict[str, str]) -> bool:
    target = next((value for name, value in headers.items() if name.lower() == "x-amz-target"), "")
    return target.startswith(TARGET_PREFIX)


class QuotaError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class QuotasProtocol:
    """Turns Service Quotas requests into answers from the emulator's scenario."""

    def __init__(self, emulator: DrsEmulator) -> None:
        self.emulator = emulator

    def handle(self, headers: dict[str, str], body: bytes) -> HttpResponse:
        request_id = self.emulator.request_id()  # from the scenario's seed, as DRS's and EC2's answers
        target = next((value for name, value in headers.items() if name.lower() == "x-amz-target"), "")
        operation = target.removeprefix(TARGET_PREFIX)
        try:
            if operation not in OPERATIONS:
                raise QuotaError("IllegalArgumentException", f"The operation {operation} is not served here")
            params = json.loads(body or b"{}")
            model = quotas_model().operation_model(operation)
            missing = [name for name in model.input_shape.required_members if not params.get(name)]
            if missing:
                raise QuotaError("IllegalArgumentException", f"Missing required parameter(s): {', '.join(missing)}")
            region = request_region("servicequotas", headers, self.emulator.scenario.region)
            result = self.get_service_quota(region, params)
            output = _shaped(model.output_shape, result)
            return _json(200, output, request_id)
        except QuotaError as error:
            response = _json(400, {"__type": error.code, "Message": error.message}, request_id)
            response.headers["x-amzn-ErrorType"] = error.code
            return response

    def get_service_quota(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        self.emulator.count_call("GetServiceQuota")
        if params.get("ServiceCode") != "ec2" or params.get("QuotaCode") != VCPU_QUOTA:
            raise QuotaError(
                "NoSuchResourceException",
                f"The request failed because the specified service quota ({params.get('ServiceCode')}, "
                f"{params.get('QuotaCode')}) does not exist.",
            )
        capacity = self.emulator.scenario.capacity_of(region)
        return {
            "Quota": {
                "ServiceCode": "ec2",
                "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
                "QuotaArn": f"arn:aws:servicequotas:{region}:{self.emulator.scenario.accountId}:ec2/{VCPU_QUOTA}",
                "QuotaCode": VCPU_QUOTA,
                "QuotaName": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
                "Value": capacity.vcpuLimit,
                "Unit": "None",
                "Adjustable": True,
                "GlobalQuota": False,
                "UsageMetric": {
                    "MetricNamespace": "AWS/Usage",
                    "MetricName": "ResourceCount",
                    "MetricDimensions": {
                        "Class": "Standard/OnDemand",
                        "Resource": "vCPU",
                        "Service": "EC2",
                        "Type": "Resource",
                    },
                    "MetricStatisticRecommendation": "Maximum",
                },
                "QuotaAppliedAtLevel": "ACCOUNT",
            }
        }


def _shaped(shape: Shape | None, value: Any) -> Any:
    """Only what the model declares."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {name: _shaped(shape.members[name], item) for name, item in value.items() if name in shape.members}
    return value


def _json(status: int, body: Any, request_id: str) -> HttpResponse:
    return HttpResponse(
        status,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id},
        json.dumps(body).encode(),
    )
