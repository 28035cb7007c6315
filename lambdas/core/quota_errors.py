"""Which DRS quota a ServiceQuotaExceededException is about, and what waiting does for it.

botocore's `drs` model makes `quotaCode` a free string, and DRS's answers have named quotas both ways: by API names
(MaxConcurrentJobs, MaxServersInAllActiveJobs, MaxServersPerJob) and by Service Quotas codes (`L-...`). So each
quota below is known by every code it may carry and by the words of its message, checked in that order (codes
first, then the messages, top to bottom: the narrower quotas come before the wider ones whose words they contain).

- capacity: a quota other jobs hold (anyone's): it frees as they end, so the wave waits for it until its deadline;
- chunk_too_large: the servers of one job: the chunk is halved until DRS takes it;
- permanent: an account total that no job's end frees: the wave fails at once, naming the quota to raise.

A quota error that matches none of them is an unknown quota. The wave waits for it as for capacity (StartRecovery's
quotas are job quotas, which free as jobs end, and failing a recovery on wording we do not know would be worse than
waiting for its deadline), and the record names its code so the table can learn it. The Service Quotas codes are
those public listings of DRS's quotas give (`aws service-quotas list-service-quotas --service-code drs` shows an
account's; docs/architecture.md, facts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Effect = Literal["capacity", "chunk_too_large", "permanent"]


@dataclass(frozen=True)
class DrsQuota:
    name: str  # as Service Quotas names it
    effect: Effect
    codes: frozenset[str]  # every quotaCode it may carry, compared without case
    words: re.Pattern[str]  # what its message says, when the code is missing or one we do not know


def _quota(name: str, effect: Effect, codes: tuple[str, ...], words: str) -> DrsQuota:
    return DrsQuota(name, effect, frozenset(code.lower() for code in codes), re.compile(words, re.IGNORECASE))


QUOTAS: tuple[DrsQuota, ...] = (
    _quota(
        "Max source servers in a single Job",
        "chunk_too_large",
        ("MaxServersPerJob", "L-B827C881"),
        r"\b(single|one|each|per) job\b|\ba job can (include|contain|have|hold) at most",
    ),
    _quota(
        "Max concurrent Jobs per source server",
        "capacity",
        ("L-DD6D028C",),
        r"\bjobs? per (source )?server\b",
    ),
    _quota(
        "Max source servers in all Jobs",
        "capacity",
        ("MaxServersInAllActiveJobs", "L-05AFA8C6"),
        r"\bservers (are )?in (all )?(active |running )?jobs\b",
    ),
    _quota(
        "Concurrent jobs in progress",
        "capacity",
        ("MaxConcurrentJobs", "L-D88FAC3A"),
        r"\bconcurrent jobs\b|\bjobs (are )?(in progress|active|running)\b|\bactive jobs\b",
    ),
    _quota(
        "Max Total replicating source servers Per AWS Account",
        "permanent",
        ("L-C1D14A2B",),
        r"\breplicating (source )?servers\b",
    ),
    _quota(
        "Max Total source servers Per AWS Account",
        "permanent",
        ("L-E28BE5E0",),
        r"\btotal (number of )?source servers\b|\bsource servers per (aws )?account\b",
    ),
)


def drs_quota(quota_code: str | None, message: str) -> DrsQuota | None:
    """The quota an error names by its code, else by its message; None for a quota this table does not know."""
    if quota_code:
        for quota in QUOTAS:
            if quota_code.strip().lower() in quota.codes:
                return quota
    return next((quota for quota in QUOTAS if quota.words.search(message)), None)
