"""CAPACITY_SHORT: per account and Region, the On-Demand vCPU quota minus the vCPUs in use is less than the largest
wave's launch needs there (FAIL); or a wave needs more DRS jobs or servers in active jobs than the DRS quotas allow
at once, so part of it will queue (WARN)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator

from lambdas.core.explain import listed
from lambdas.core.readiness.estate import Estate, FactUnavailable, PlanServer
from lambdas.core.readiness.model import Check, Finding
from lambdas.core.readiness.reads import VCPU_QUOTA_CODE, Where

NAMED = 10  # of the wave short of vCPUs, the largest first: where smaller instance types help most


def run(estate: Estate) -> Iterator[Finding]:
    waves: dict[Where, dict[int, list[PlanServer]]] = defaultdict(lambda: defaultdict(list))
    for server in estate.found():
        waves[server.where][server.wave_number].append(server)
    for where, by_wave in sorted(waves.items()):
        yield from _job_quotas(estate, where, by_wave)
        yield from _vcpus(estate, where, by_wave)


def _vcpus(estate: Estate, where: Where, by_wave: dict[int, list[PlanServer]]) -> Iterator[Finding]:
    try:
        types = {
            server.server_id: estate.launch_settings(server).instance_type for s in by_wave.values() for server in s
        }
        vcpus = estate.vcpus(where)
        capacity = estate.capacity(where)
    except FactUnavailable as missing:
        yield CHECK.finding(
            "WARN",
            f"the vCPU capacity in {where} could not be checked: {missing}",
            missing.fix,
            account=where.account,
            region=where.region,
        )
        return
    needs = {
        number: sum(vcpus.get(types[server.server_id] or "", 0) for server in servers)
        for number, servers in by_wave.items()
    }
    largest = max(needs, key=lambda number: (needs[number], -number))
    free = capacity.vcpu_limit - capacity.vcpus_in_use
    if needs[largest] > free:
        servers = by_wave[largest]
        largest_first = sorted(servers, key=lambda s: (-vcpus.get(types[s.server_id] or "", 0), s.server_id))
        named = listed([f"{s.server_id} ({types[s.server_id] or 'type unknown'})" for s in largest_first], NAMED)
        yield CHECK.finding(
            "FAIL",
            f"wave {largest} ({servers[0].wave_name}) launches {len(servers)} server(s) needing {needs[largest]} "
            f"vCPUs in {where}, but only {max(free, 0):g} are free: the On-Demand standard vCPU quota "
            f"({VCPU_QUOTA_CODE}) is {capacity.vcpu_limit:g} and {capacity.vcpus_in_use} are in use. Its servers, "
            f"largest first: {named}",
            f"request a quota increase for {VCPU_QUOTA_CODE} (Running On-Demand Standard instances) in {where.region} "
            f"of at least {math.ceil(needs[largest] - free)} vCPUs (Service Quotas console), or stop instances, or "
            "choose smaller instance types in the launch templates",
            account=where.account,
            region=where.region,
        )


def _job_quotas(estate: Estate, where: Where, by_wave: dict[int, list[PlanServer]]) -> Iterator[Finding]:
    options = estate.options
    for number, servers in sorted(by_wave.items()):
        jobs = math.ceil(len(servers) / options.MaxServersPerJob)
        if jobs <= options.MaxConcurrentJobs and len(servers) <= options.MaxServersInActiveJobs:
            continue
        yield CHECK.finding(
            "WARN",
            f"wave {number} ({servers[0].wave_name}) launches {len(servers)} server(s) in {where}: {jobs} DRS job(s) "
            f"of at most {options.MaxServersPerJob}, where DRS allows {options.MaxConcurrentJobs} concurrent jobs and "
            f"{options.MaxServersInActiveJobs} servers in active jobs: part of the wave will wait for capacity",
            "split the wave, or spread its servers over more accounts; if the account's DRS quotas were raised, set "
            "Options.MaxConcurrentJobs and Options.MaxServersInActiveJobs to them",
            account=where.account,
            region=where.region,
        )


CHECK = Check(
    code="CAPACITY_SHORT",
    severity="FAIL or WARN",
    title="Per account and Region, free On-Demand vCPUs are fewer than the largest wave needs (FAIL); a wave "
    "exceeds the DRS job quotas and will queue (WARN)",
    reads=(
        f"Service Quotas GetServiceQuota (ec2, {VCPU_QUOTA_CODE}): the vCPU quota",
        "EC2 DescribeInstances (pending and running On-Demand instances of the standard families: A, C, D, H, I, M, "
        "R, T, Z) and DescribeInstanceTypes (their vCPUs)",
        "the instance types of the servers' launch templates (as LAUNCH_CONFIG_INVALID reads them)",
        "the plan's Options.MaxServersPerJob, MaxConcurrentJobs, MaxServersInActiveJobs",
    ),
    remediation="Raise the vCPU quota where a wave launches, free capacity, or choose smaller instance types; split "
    "waves that exceed the DRS job quotas.",
    link="https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html",
    run=run,
)
