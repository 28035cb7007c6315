"""In a rehearsal, plain boto3 clients reach the emulator for DRS and for EC2, while moto still mocks the rest."""

from __future__ import annotations

import os

import boto3

from tests.conftest import estate, server_id


def test_an_ec2_client_in_a_rehearsal_gets_the_emulators_answer_not_motos(stage):
    scenario = estate(2)
    scenario["servers"][1]["instanceStatus"] = {"seconds": 0, "result": "impaired"}
    with stage(scenario) as aws:
        assert os.environ["AWS_ENDPOINT_URL_EC2"] == aws.emulator.endpoint
        drs = boto3.client("drs", region_name="us-east-1")  # no endpoint_url: as the in-process handlers build them
        ec2 = boto3.client("ec2", region_name="us-east-1")
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(2)], isDrill=True)
        aws.clock.advance(3600)
        instances = {i["sourceServerID"]: i["ec2InstanceID"] for i in drs.describe_recovery_instances()["items"]}
        statuses = {
            s["InstanceId"]: s["InstanceStatus"]["Status"] for s in ec2.describe_instance_status()["InstanceStatuses"]
        }
        assert statuses == {instances[server_id(0)]: "ok", instances[server_id(1)]: "impaired"}
        assert aws.drs.ec2_calls["DescribeInstanceStatus"] == 1
        assert "DescribeInstanceStatus" not in aws.drs.calls  # DRS call counts (the report's figures) stay DRS's
        # moto still answers what the emulator does not serve.
        assert "drs-orchestrator-prepare" in {
            f["FunctionName"] for f in boto3.client("lambda", region_name="us-east-1").list_functions()["Functions"]
        }
