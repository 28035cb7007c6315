"""Job lifecycles on a virtual clock: statuses at the times the scenario implies, faults, determinism, threads."""

from __future__ import annotations

import threading

import pytest

from drsctl.clock import parse_iso8601
from tests.conftest import drs_client, estate, server_id

EXACT_DRILL = {"drill": {"snapshot": 2, "preparation": 50, "conversion": 200, "launch": 300}, "jitter": 0}


def _job(drs, job_id):
    return drs.describe_jobs(filters={"jobIDs": [job_id]})["items"][0]


def _statuses(job):
    return [p["launchStatus"] for p in job["participatingServers"]]


def test_ten_server_drill_passes_through_every_status_on_time(serve, clock):
    drs = drs_client(serve(estate(10, timing=EXACT_DRILL)).endpoint)
    t0 = clock.now()
    job_id = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(10)], isDrill=True)[
        "job"
    ]["jobID"]
    expected = [
        (1, "PENDING", "PENDING"),  # taking snapshots
        (2, "STARTED", "PENDING"),  # snapshots done at 2 s
        (251, "STARTED", "PENDING"),  # converting (52 s .. 252 s)
        (252, "STARTED", "IN_PROGRESS"),  # launch starts at 252 s
        (551, "STARTED", "IN_PROGRESS"),
        (552, "COMPLETED", "LAUNCHED"),  # launched at 552 s
    ]
    for offset, job_status, server_status in expected:
        clock.advance_to(t0 + offset)
        job = _job(drs, job_id)
        assert (offset, job["status"], set(_statuses(job))) == (offset, job_status, {server_status})
    job = _job(drs, job_id)
    assert parse_iso8601(job["endDateTime"]) - t0 == 552
    assert len({p["recoveryInstanceID"] for p in job["participatingServers"]}) == 10
    log = drs.describe_job_log_items(jobID=job_id, maxResults=1000)["items"]
    offsets = {item["event"]: parse_iso8601(item["logDateTime"]) - t0 for item in log}
    assert offsets == {
        "JOB_START": 0,
        "SNAPSHOT_START": 0,
        "SNAPSHOT_END": 2,
        "CONVERSION_START": 52,
        "CONVERSION_END": 252,
        "LAUNCH_START": 252,
        "JOB_END": 552,
    }


def test_recovery_takes_longer_than_a_drill_with_default_timing(serve, clock):
    drs = drs_client(serve(estate(2)).endpoint)
    t0 = clock.now()
    drill = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)["job"]["jobID"]
    recovery = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(1)}], isDrill=False)["job"]["jobID"]
    clock.advance(7200)
    drill_took = parse_iso8601(_job(drs, drill)["endDateTime"]) - t0
    recovery_took = parse_iso8601(_job(drs, recovery)["endDateTime"]) - t0
    assert 551 * 0.95 <= drill_took <= 551 * 1.05  # the published sample: about 9 minutes per drill job
    assert recovery_took > drill_took * 1.2
    instances = {i["sourceServerID"]: i["isDrill"] for i in drs.describe_recovery_instances()["items"]}
    assert instances == {server_id(0): True, server_id(1): False}


def test_jitter_is_bounded_and_deterministic_from_the_seed(serve, clock):
    def run():
        running = serve(estate(8))
        drs = drs_client(running.endpoint)
        t0 = clock.now()
        job = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(8)], isDrill=True)
        clock.advance(3600)
        log = drs.describe_job_log_items(jobID=job["job"]["jobID"], maxResults=1000)["items"]
        return job["job"]["jobID"], [(i["event"], parse_iso8601(i["logDateTime"]) - t0) for i in log]

    first_id, first = run()
    second_id, second = run()
    assert first_id == second_id
    assert first == second
    launch_ends = sorted(t for event, t in first if event == "LAUNCH_START")
    assert launch_ends[0] != launch_ends[-1]  # jitter spreads the servers
    assert all(251 * 0.95 <= t <= 251 * 1.05 for t in launch_ends)


def test_per_server_timing_override(serve, clock):
    scenario = estate(2, timing=EXACT_DRILL)
    scenario["servers"][1]["timing"] = {"launch": 900}
    drs = drs_client(serve(scenario).endpoint)
    t0 = clock.now()
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(2)], isDrill=True)
    clock.advance_to(t0 + 600)
    by_id = {
        s["sourceServerID"]: s["lifeCycle"]["lastLaunch"]["status"] for s in drs.describe_source_servers()["items"]
    }
    assert by_id == {server_id(0): "LAUNCHED", server_id(1): "IN_PROGRESS"}
    clock.advance_to(t0 + 1152)
    assert drs.describe_jobs()["items"][0]["status"] == "COMPLETED"


def test_launch_failure_fails_only_that_server(serve, clock):
    scenario = estate(3)
    scenario["servers"][1]["faults"] = ["launch_failure"]
    drs = drs_client(serve(scenario).endpoint)
    job_id = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(3)], isDrill=True)[
        "job"
    ]["jobID"]
    clock.advance(3600)
    job = _job(drs, job_id)
    assert job["status"] == "COMPLETED"
    assert _statuses(job) == ["LAUNCHED", "FAILED", "LAUNCHED"]
    assert "recoveryInstanceID" not in job["participatingServers"][1]
    failed = [i for i in drs.describe_job_log_items(jobID=job_id)["items"] if i["event"] == "LAUNCH_FAILED"]
    assert [i["eventData"]["sourceServerID"] for i in failed] == [server_id(1)]
    server = drs.describe_source_servers(filters={"sourceServerIDs": [server_id(1)]})["items"][0]
    assert server["lastLaunchResult"] == "FAILED"


def test_stuck_server_never_leaves_in_progress(serve, clock):
    scenario = estate(2)
    scenario["servers"][0]["faults"] = ["stuck"]
    drs = drs_client(serve(scenario).endpoint)
    job_id = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(2)], isDrill=True)[
        "job"
    ]["jobID"]
    clock.advance(86_400)
    job = _job(drs, job_id)
    assert job["status"] == "STARTED"
    assert _statuses(job) == ["IN_PROGRESS", "LAUNCHED"]
    with pytest.raises(drs.exceptions.ConflictException):
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)


def test_job_ends_without_launch_completes_the_job_with_the_server_still_in_progress(serve, clock):
    scenario = estate(1, timing=EXACT_DRILL)
    scenario["servers"][0]["faults"] = ["job_ends_without_launch"]
    drs = drs_client(serve(scenario).endpoint)
    t0 = clock.now()
    job_id = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)["job"]["jobID"]
    clock.advance_to(t0 + 551)
    assert (_job(drs, job_id)["status"], _statuses(_job(drs, job_id))) == ("STARTED", ["IN_PROGRESS"])
    clock.advance_to(t0 + 552)  # when its launch would have ended
    job = _job(drs, job_id)
    assert job["status"] == "COMPLETED"
    assert parse_iso8601(job["endDateTime"]) - t0 == 552
    assert _statuses(job) == ["IN_PROGRESS"]
    assert "recoveryInstanceID" not in job["participatingServers"][0]
    clock.advance(86_400)
    assert _statuses(_job(drs, job_id)) == ["IN_PROGRESS"]  # never final
    assert drs.describe_recovery_instances()["items"] == []
    events = [i["event"] for i in drs.describe_job_log_items(jobID=job_id)["items"]]
    assert events == [
        "JOB_START",
        "SNAPSHOT_START",
        "SNAPSHOT_END",
        "CONVERSION_START",
        "CONVERSION_END",
        "LAUNCH_START",
        "JOB_END",
    ]
    server = drs.describe_source_servers()["items"][0]
    assert server["lifeCycle"]["lastLaunch"]["status"] == "IN_PROGRESS"
    assert server["lastLaunchResult"] == "PENDING"
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)  # the job no longer holds it


@pytest.mark.parametrize(
    ("faulted_launch", "job_ends_at"),
    [
        (100, 552),  # its launch would have ended at 352: the job ends when the other server is LAUNCHED
        (900, 1152),  # the other server is LAUNCHED at 552: the job ends when this launch would have ended
    ],
)
def test_job_ends_without_launch_beside_other_servers(serve, clock, faulted_launch, job_ends_at):
    scenario = estate(3, timing=EXACT_DRILL)
    scenario["servers"][0]["faults"] = ["job_ends_without_launch"]
    scenario["servers"][0]["timing"] = {"launch": faulted_launch}
    scenario["servers"][2]["faults"] = ["launch_failure"]
    drs = drs_client(serve(scenario).endpoint)
    t0 = clock.now()
    job_id = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(3)], isDrill=True)[
        "job"
    ]["jobID"]
    clock.advance_to(t0 + job_ends_at - 1)
    assert _job(drs, job_id)["status"] == "STARTED"
    clock.advance_to(t0 + job_ends_at)
    job = _job(drs, job_id)
    assert job["status"] == "COMPLETED"
    assert parse_iso8601(job["endDateTime"]) - t0 == job_ends_at
    assert _statuses(job) == ["IN_PROGRESS", "LAUNCHED", "FAILED"]


def test_conflict_fault_answers_the_next_n_calls_naming_the_server(serve):
    scenario = estate(2)
    scenario["servers"][0]["faults"] = [{"conflict": 2}]
    running = serve(scenario)
    drs = drs_client(running.endpoint)
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(1)}], isDrill=True)  # does not name it
    for _ in range(2):
        with pytest.raises(drs.exceptions.ConflictException) as raised:
            drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
        assert raised.value.response["resourceId"] == server_id(0)
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
    assert len(running.emulator.jobs) == 2


def test_operation_faults_are_consumed_in_order(serve):
    faults = [
        {"operation": "StartRecovery", "error": "InternalServerException", "count": 1},
        {"operation": "StartRecovery", "error": "ThrottlingException", "count": 2},
    ]
    drs = drs_client(serve(estate(1, faults=faults)).endpoint)
    seen = []
    for _ in range(4):
        try:
            drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
            seen.append("ok")
        except drs.exceptions.ClientError as error:
            seen.append(error.response["Error"]["Code"])
    assert seen == ["InternalServerException", "ThrottlingException", "ThrottlingException", "ok"]


def test_a_new_launch_replaces_the_previous_recovery_instance(serve, clock):
    drs = drs_client(serve(estate(1)).endpoint)
    for _ in range(2):
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
        clock.advance(3600)
    instances = drs.describe_recovery_instances()["items"]
    server = drs.describe_source_servers()["items"][0]
    assert [i["recoveryInstanceID"] for i in instances] == [server["recoveryInstanceId"]]


def test_concurrent_clients_see_consistent_state(serve, clock):
    running = serve(estate(40, quotas={"maxConcurrentJobs": 100}))
    errors: list[Exception] = []
    job_ids: list[str] = []
    lock = threading.Lock()

    def launch(first: int) -> None:
        drs = drs_client(running.endpoint)
        try:
            for n in range(first, first + 5):
                job = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)}], isDrill=True)["job"]
                with lock:
                    job_ids.append(job["jobID"])
                drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    def contend() -> None:
        drs = drs_client(running.endpoint)
        for _ in range(10):
            try:
                drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
            except drs.exceptions.ConflictException:
                pass
            except Exception as error:  # noqa: BLE001
                errors.append(error)

    threads = [threading.Thread(target=launch, args=(n,)) for n in range(5, 40, 5)]
    threads += [threading.Thread(target=contend) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(job_ids)) == 35
    # server 0 was raced by 30 calls from 3 threads: exactly one job holds it
    holders = [
        j for j in running.emulator.jobs.values() if any(p.source_server_id == server_id(0) for p in j.participants)
    ]
    assert len(holders) == 1
    assert len(running.emulator.jobs) == 36
