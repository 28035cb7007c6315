"""`drsctl rehearse`: for now, a drill of every example server against the emulator on a virtual clock.

The wave workflow replaces this with a rehearsal of the real state machine definition (issue 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import boto3
import typer
from rich.console import Console
from rich.table import Table

from drsctl.clock import VirtualClock, iso8601
from drsctl.commands.common import read_scenario
from drsctl.emulator import DrsEmulator, serving

DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "examples" / "scenario.yaml"


def rehearse(
    scenario: Annotated[Path, typer.Option(help="Emulator scenario file.")] = DEFAULT_SCENARIO,
) -> None:
    """Drill every server of the scenario, one job per region, and print each job's progress."""
    loaded = read_scenario(scenario)
    clock = VirtualClock()
    emulator = DrsEmulator(loaded, clock)
    console = Console()
    started = clock.now()
    with serving(emulator) as running:
        regions = sorted({loaded.region_of(server) for server in loaded.servers})
        clients = {
            region: boto3.client(
                "drs",
                region_name=region,
                endpoint_url=running.endpoint,
                aws_access_key_id="rehearsal",
                aws_secret_access_key="rehearsal",  # noqa: S106 - the emulator does not check credentials
            )
            for region in regions
        }
        jobs = {}
        for region, client in clients.items():
            ids = [s.id for s in loaded.servers if loaded.region_of(s) == region]
            job = client.start_recovery(sourceServers=[{"sourceServerID": i} for i in ids], isDrill=True)["job"]
            jobs[job["jobID"]] = region
            console.print(f"[bold]{region}[/]: drill job {job['jobID']} for {len(ids)} servers", highlight=False)
        seen: dict[str, str] = {}
        while True:
            for job_id, region in jobs.items():
                job = clients[region].describe_jobs(filters={"jobIDs": [job_id]})["items"][0]
                statuses = [p["launchStatus"] for p in job["participatingServers"]]
                summary = f"{job['status']:9} " + " ".join(f"{s}={statuses.count(s)}" for s in sorted(set(statuses)))
                if seen.get(job_id) != summary:
                    seen[job_id] = summary
                    console.print(f"  +{clock.now() - started:6.0f}s  {job_id}  {summary}", highlight=False)
            next_change = emulator.next_event_at()
            if next_change is None:
                break
            clock.advance_to(next_change)
        table = Table(title=f"Drill finished at {iso8601(clock.now())} (virtual time)")
        for column in ("region", "job", "status", "servers", "launched", "took"):
            table.add_column(column)
        for job_id, region in jobs.items():
            job = clients[region].describe_jobs(filters={"jobIDs": [job_id]})["items"][0]
            launched = sum(p["launchStatus"] == "LAUNCHED" for p in job["participatingServers"])
            took = emulator.jobs[job_id].ended_at or clock.now()
            table.add_row(
                region,
                job_id,
                job["status"],
                str(len(job["participatingServers"])),
                str(launched),
                f"{took - started:.0f} s",
            )
        console.print(table)
