"""The rehearsal's progress lines: one per change an operator cares about, stamped with virtual time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from drsctl.commands.views import clock_text, status_text

if TYPE_CHECKING:
    from drsctl.local.run import ProgressEvent


class ProgressPrinter:
    """Waves starting, waiting, launching and ending; with `servers`, also each server as it launches or fails, with
    its hostname and reason (a 2,000-server plan then prints 2,000 such lines). User text is printed as written."""

    def __init__(self, console: Console, *, servers: bool = False, hostnames: dict[str, str] | None = None) -> None:
        self.console = console
        self.per_server = servers
        self.hostnames = hostnames or {}
        self.last: dict[int, tuple[str, int]] = {}
        self.servers: dict[str, str] = {}
        self.health_missed: dict[int, int] = {}  # per wave: the running health check's missed checks so far

    def say(self, when: str, *parts: str | Text) -> None:
        self.console.print(Text.assemble(when, "  ", *parts), soft_wrap=False)

    def __call__(self, event: ProgressEvent) -> None:
        detail = event.detail
        when = clock_text(event.elapsed)
        if "error" in detail:
            self.say(when, f"{event.step}: {detail['error']} (the workflow handles it)")
        elif event.step == "prepared":
            names = ", ".join(w["WaveName"] for w in detail["Waves"])
            self.say(when, f"prepared: {len(detail['Waves'])} wave(s) ({names}), {detail['ServerCount']} server(s)")
            for warning in detail.get("Warnings", []):
                self.say(when, f"warning: {warning}")
        elif event.step == "wave started" and event.wave is not None:
            self._started(when, event.wave, detail)
        elif event.step == "wave checked" and event.wave is not None and detail.get("LastError"):
            self.say(
                when,
                f"wave {event.wave}: check got no answer ({detail['MissedChecks']} missed): {detail['LastError']}",
            )
        elif event.step == "wave checked" and event.wave is not None:
            if self.per_server:
                self._servers(when, detail.get("ServerStates", {}))
            state = (detail["Status"], detail["Launched"])
            if self.last.get(event.wave) != state:
                self.last[event.wave] = state
                self.say(
                    when,
                    f"wave {event.wave}: ",
                    status_text(detail["Status"]),
                    f", {detail['Launched']}/{detail['Servers']} launched after {detail['Checks']} check(s)",
                )
        elif event.step == "runbook step" and event.wave is not None:
            self._runbook_step(when, event.wave, detail)
        elif event.step == "health checked" and event.wave is not None:
            self._health_checked(when, event.wave, detail)
        elif event.step == "finished":
            self.say(when, f"finished: {detail.get('Summary', '')}")

    def _runbook_step(self, when: str, wave: int, detail: dict[str, Any]) -> None:
        """A runbook step starting (its name and kind), or the runbook stopping the plan (its error)."""
        kinds = {
            "LAMBDA": "hook",
            "CALLBACK": "hook, waits for its callback",
            "APPROVAL": "approval",
            "WAIT": "wait",
            "HEALTH": "health check",
        }
        phase = "before" if detail.get("Phase") == "BEFORE" else "after"
        if detail.get("Kind") in kinds:
            self.say(when, f"wave {wave} {phase}: {detail.get('Name')} ({kinds[detail['Kind']]})")
        elif detail.get("Kind") == "FAILED":
            self.say(when, f"wave {wave} {phase}: ", status_text("FAILED"), f" ({detail.get('Error')})")

    def _health_checked(self, when: str, wave: int, detail: dict[str, Any]) -> None:
        """A health check that decided (healthy, or which servers are not), or one AWS did not answer."""
        status = detail.get("Status")
        missed_before = self.health_missed.get(wave, 0)
        self.health_missed[wave] = int(detail.get("MissedChecks") or 0)
        if status == "PENDING" and self.health_missed[wave] > missed_before:
            missed = f"{detail['MissedChecks']} missed"
            self.say(when, f"wave {wave} after: health check got no answer ({missed}): {detail['LastError']}")
        elif status == "HEALTHY":
            self.say(when, f"wave {wave} after: ", Text("HEALTHY", style="green"), f" {detail.get('Output')}")
        elif status == "UNHEALTHY":
            cause = f" ({detail.get('Error')}) {detail.get('Cause')}"
            self.say(when, f"wave {wave} after: ", Text("UNHEALTHY", style="red"), cause)

    def _started(self, when: str, wave: int, detail: dict[str, Any]) -> None:
        status, delay = detail["Status"], detail["NextCheckSeconds"]
        if status == "RUNNING":
            self.last[wave] = ("RUNNING", 0)
            text = f"wave {wave}: started {detail['Servers']} server(s); first check in {delay} s"
        elif status == "WAITING_FOR_CAPACITY":
            text = f"wave {wave}: waiting for DRS capacity ({detail['LastError']}); next try in {delay} s"
        elif status == "STARTING":
            text = f"wave {wave}: some servers could not start yet ({detail['LastError']}); next try in {delay} s"
        else:
            text = f"wave {wave}: {status}"
        self.say(when, text)

    def _servers(self, when: str, states: dict[str, tuple[str, str | None, str | None]]) -> None:
        """One line per server that reached LAUNCHED, FAILED or TIMED_OUT since the last check."""
        for server_id, (status, instance, error) in states.items():
            if status in ("LAUNCHED", "FAILED", "TIMED_OUT") and self.servers.get(server_id) != status:
                self.servers[server_id] = status
                host = f" ({self.hostnames[server_id]})" if server_id in self.hostnames else ""
                reason = f": {error}" if error else ""
                suffix = f" as {instance}" if instance else ""
                self.say(when, f"  {server_id}{host} ", status_text(status), f"{reason}{suffix}")
