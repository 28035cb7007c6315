"""lambdas/core/ec2.py against the emulator's EC2: batches of 100 IDs, and an instance EC2 no longer knows."""

from __future__ import annotations

import os
from unittest.mock import patch

import pytest

from lambdas.core import ec2, health
from lambdas.core.accounts import Target
from tests.conftest import drs_client, estate, server_id

EXACT = {"drill": {"snapshot": 0, "preparation": 0, "conversion": 0, "launch": 100}, "terminate": 60, "jitter": 0}


@pytest.fixture
def launched(serve, clock):
    """Three servers launched on a served emulator, the EC2 endpoint set as the rehearsal sets it."""
    scenario = estate(3, timing=EXACT)
    scenario["servers"][1]["instanceStatus"] = {"seconds": 30, "result": "impaired"}
    endpoint = serve(scenario).endpoint
    drs = drs_client(endpoint)
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(3)], isDrill=True)
    clock.advance(100 + 60)
    ids = sorted(item["ec2InstanceID"] for item in drs.describe_recovery_instances()["items"])
    environment = {
        "AWS_ENDPOINT_URL_EC2": endpoint,
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "ORCHESTRATOR_ACCOUNT": scenario.get("accountId", "111122223333"),
    }
    with patch.dict(os.environ, environment):
        yield ids


def test_statuses_of_known_instances_and_none_for_an_unknown_one(launched, monkeypatch):
    monkeypatch.setattr(ec2, "INSTANCE_IDS_MAX", 2)  # two calls: the batches of the 100-ID limit, smaller
    unknown = "i-0123456789abcdef0"
    found = ec2.instance_statuses(Target("111122223333", "us-east-1"), [*launched, unknown])
    assert set(found) == set(launched)  # the unknown one fails its batch; each is then asked alone
    # 60 s after the launch: two instances still initializing (the default 120 s), one impaired (its scenario)
    states = sorted(health.instance_state(found[i])[0] for i in launched)
    assert states == ["PENDING", "PENDING", "UNHEALTHY"]
    assert health.instance_state(found.get(unknown)) == ("UNHEALTHY", "EC2 instance not found")
