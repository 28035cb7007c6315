"""How a wave that reached its deadline says what became of its CRITICAL servers (lambdas/core/wave_end.outcome):
"DRS did not answer" only when its last checks got no answer, never when DRS answered and the job was still running."""

from __future__ import annotations

import pytest

from lambdas.core import wave_end
from lambdas.core.records import ServerRecord, WaveRecord
from tests.conftest import server_id

STARTED, NEVER = server_id(1), server_id(2)
CAPACITY = "Its servers could not all be started before the deadline: ServiceQuotaExceededException [MaxConcurrentJobs]"
WHERE = {"Account": "111122223333", "Region": "us-east-1"}
UNANSWERED = f"{wave_end.UNANSWERED} (3 missed in all; last: ThrottlingException)."


def timed_out_wave() -> WaveRecord:
    """One CRITICAL server still in its job at the deadline, one never started (the quota was full)."""
    return WaveRecord(
        WaveNumber=1,
        WaveName="db",
        ProtectionGroupId="db",
        Region="us-east-1",
        StartTime=0,
        Servers=[
            ServerRecord(
                SourceServerId=STARTED, Status="TIMED_OUT", Error="WAVE_TIMEOUT", RecoveryJobId="drsjob-1", **WHERE
            ),
            ServerRecord(SourceServerId=NEVER, Status="TIMED_OUT", Error="NOT_STARTED", **WHERE),
        ],
    )


@pytest.mark.parametrize(
    ("cause", "said"),
    [
        (CAPACITY, f"server(s) {STARTED} (job(s) drsjob-1) had not launched yet (DRS may still launch them)"),
        (UNANSWERED, f"whether CRITICAL server(s) {STARTED} (job(s) drsjob-1) launched is unknown (DRS did not answer"),
    ],
    ids=["DRS answered, capacity full", "last checks unanswered"],
)
def test_a_job_still_running_at_the_deadline_is_unknown_only_when_drs_did_not_answer(cause, said):
    wave = timed_out_wave()
    status, message = wave_end.outcome(wave, "deadline", now=3600, cause=cause, still_running=[wave.Servers[0]])
    assert status == "TIMED_OUT"
    assert message is not None and said in message, message
    assert ("DRS did not answer" in message) == (cause == UNANSWERED)
    assert f"server(s) {NEVER} could not be started before the deadline" in message
