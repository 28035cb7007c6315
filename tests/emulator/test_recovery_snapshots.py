"""Replication lag: lagDuration, DescribeRecoverySnapshots, and the recovery point a launch records."""

from __future__ import annotations

import re

import botocore.session
import pytest

from drsctl.clock import iso8601, parse_iso8601
from drsctl.emulator.model import iso8601_duration
from drsctl.emulator.validation import validate_input
from tests.conftest import drs_client, estate, server_id

EXACT_DRILL = {"drill": {"snapshot": 2, "preparation": 50, "conversion": 200, "launch": 300}, "jitter": 0}
SNAPSHOT_ID = re.compile(r"^pit-[0-9a-zA-Z]{17}$")
EBS_SNAPSHOT_ID = re.compile(r"^snap-[0-9a-zA-Z]{17}$")
DAY = 86_400


def _with_lag(count, lags, **scenario):
    """An estate whose server n has lags[n] (a number, or None to leave lagSeconds out)."""
    built = estate(count, **scenario)
    for server, lag in zip(built["servers"], lags, strict=True):
        if lag is not None:
            server["lagSeconds"] = lag
    return built


def _snapshots(drs, server, **kwargs):
    pages = drs.get_paginator("describe_recovery_snapshots").paginate(sourceServerID=server, **kwargs)
    return [item for page in pages for item in page["items"]]


@pytest.mark.parametrize(
    ("seconds", "duration"),
    [
        (0, "PT0S"),
        (45, "PT45S"),
        (60, "PT1M"),
        (3600, "PT1H"),
        (5400, "PT1H30M"),
        (3661, "PT1H1M1S"),
        (7200.5, "PT2H0.5S"),
        (DAY, "PT24H"),
        (93784.25, "PT26H3M4.25S"),
    ],
)
def test_iso8601_durations(seconds, duration):
    assert iso8601_duration(seconds) == duration


def test_lag_duration_follows_lag_seconds_and_defaults_from_the_replication_state(serve):
    scenario = _with_lag(5, [None, None, 5400, 0, 45])
    scenario["servers"][1]["replication"] = "STALLED"
    scenario["servers"][3]["replication"] = "RESCAN"
    drs = drs_client(serve(scenario).endpoint)
    lags = {
        s["sourceServerID"]: s["dataReplicationInfo"]["lagDuration"] for s in drs.describe_source_servers()["items"]
    }
    assert lags == {
        server_id(0): "PT0S",  # CONTINUOUS: no lag unless told
        server_id(1): "PT1H",  # not CONTINUOUS: an hour unless told
        server_id(2): "PT1H30M",
        server_id(3): "PT0S",
        server_id(4): "PT45S",
    }


def test_snapshots_every_ten_minutes_of_the_last_day_oldest_first(serve, clock):
    drs = drs_client(serve(estate(1)).endpoint)
    now = clock.now()  # 2026-01-01T00:00:00Z, on the 10-minute grid
    first_page = drs.describe_recovery_snapshots(sourceServerID=server_id(0))
    validate_input(
        botocore.session.get_session()
        .get_service_model("drs")
        .operation_model("DescribeRecoverySnapshots")
        .output_shape,
        {k: v for k, v in first_page.items() if k != "ResponseMetadata"},
    )
    assert len(first_page["items"]) == 100  # the default page
    assert "nextToken" in first_page
    items = _snapshots(drs, server_id(0))
    times = [parse_iso8601(item["timestamp"]) for item in items]
    assert len(items) == 144
    assert times == [now - DAY + 600 * n for n in range(1, 145)]
    assert all(item["expectedTimestamp"] == item["timestamp"] for item in items)
    assert all(item["sourceServerID"] == server_id(0) for item in items)
    assert all(SNAPSHOT_ID.match(item["snapshotID"]) for item in items)
    assert len({item["snapshotID"] for item in items}) == 144
    assert all(len(item["ebsSnapshots"]) == 1 and EBS_SNAPSHOT_ID.match(item["ebsSnapshots"][0]) for item in items)


def test_snapshots_stop_at_now_minus_the_lag_and_keep_their_ids_as_time_passes(serve, clock):
    drs = drs_client(serve(_with_lag(1, [5400])).endpoint)
    now = clock.now()
    before = _snapshots(drs, server_id(0))
    assert len(before) == (DAY - 5400) // 600
    assert parse_iso8601(before[-1]["timestamp"]) == now - 5400
    assert parse_iso8601(before[0]["timestamp"]) == now - DAY + 600
    clock.advance(600)
    after = _snapshots(drs, server_id(0))
    assert len(after) == len(before)
    assert after[:-1] == before[1:]  # the oldest expired, a newer one appeared, the rest are the same snapshots
    assert parse_iso8601(after[-1]["timestamp"]) == now + 600 - 5400


def test_snapshot_order_filters_and_paging(serve, clock):
    drs = drs_client(serve(estate(1)).endpoint)
    now = clock.now()
    newest_first = _snapshots(drs, server_id(0), order="DESC")
    assert newest_first == list(reversed(_snapshots(drs, server_id(0))))
    window = {"fromDateTime": iso8601(now - 3600), "toDateTime": iso8601(now - 1800)}
    filtered = _snapshots(drs, server_id(0), filters=window)
    assert [parse_iso8601(i["timestamp"]) - now for i in filtered] == [-3600, -3000, -2400, -1800]  # inclusive
    only_from = drs.describe_recovery_snapshots(sourceServerID=server_id(0), filters={"fromDateTime": iso8601(now)})
    assert [parse_iso8601(i["timestamp"]) for i in only_from["items"]] == [now]
    pages = list(
        drs.get_paginator("describe_recovery_snapshots").paginate(
            sourceServerID=server_id(0), order="DESC", PaginationConfig={"PageSize": 50}
        )
    )
    assert [len(page["items"]) for page in pages] == [50, 50, 44]
    assert [item for page in pages for item in page["items"]] == newest_first


def test_a_lag_beyond_a_day_leaves_no_snapshots(serve):
    drs = drs_client(serve(_with_lag(1, [DAY])).endpoint)
    assert drs.describe_recovery_snapshots(sourceServerID=server_id(0))["items"] == []


def test_unknown_or_foreign_server_is_resource_not_found(serve):
    scenario = estate(2)
    scenario["servers"][1]["region"] = "us-west-2"
    drs = drs_client(serve(scenario).endpoint)
    for missing in (server_id(99, "x"), server_id(1)):
        with pytest.raises(drs.exceptions.ResourceNotFoundException) as raised:
            drs.describe_recovery_snapshots(sourceServerID=missing)
        assert raised.value.response["resourceId"] == missing
        assert raised.value.response["resourceType"] == "SOURCE_SERVER"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "us-west-2" in raised.value.response["Error"]["Message"]


def test_the_server_is_required_and_the_order_must_be_known(serve):
    drs = drs_client(serve(estate(1)).endpoint, validate_params=False)
    with pytest.raises(drs.exceptions.ValidationException) as raised:
        drs.describe_recovery_snapshots()
    assert raised.value.response["fieldList"] == [{"name": "sourceServerID", "message": "Member must not be null"}]
    with pytest.raises(drs.exceptions.ValidationException) as raised:
        drs.describe_recovery_snapshots(sourceServerID=server_id(0), order="NEWEST")
    assert raised.value.response["fieldList"][0]["name"] == "order"


def test_a_launch_records_the_newest_snapshot_when_replication_lags(serve, clock):
    drs = drs_client(serve(_with_lag(3, [0, 5400, 30], timing=EXACT_DRILL)).endpoint)
    t0 = clock.now()
    clock.advance_to(t0 + 125)  # off the 10-minute grid
    newest = {
        n: drs.describe_recovery_snapshots(sourceServerID=server_id(n), order="DESC", maxResults=1)["items"][0]
        for n in (1, 2)
    }
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(3)], isDrill=True)
    clock.advance(3600)
    points = {
        i["sourceServerID"]: parse_iso8601(i["pointInTimeSnapshotDateTime"]) - t0
        for i in drs.describe_recovery_instances()["items"]
    }
    assert points == {
        server_id(0): 127,  # no lag: the snapshot the job took (its SNAPSHOT_END), as before
        server_id(1): -5400,  # the newest snapshot at creation: t0 + 125 - 5400 rounded down to the grid
        server_id(2): 0,  # t0 + 95, rounded down to the grid
    }
    assert {n: parse_iso8601(item["timestamp"]) - t0 for n, item in newest.items()} == {1: -5400, 2: 0}
