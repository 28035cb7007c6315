"""What an execution's history and its state machine's definition tell the report.

The history is GetExecutionHistory's events (as boto3 returns them, or the local engine's equivalent); the
definition is the ASL JSON the execution ran (DescribeStateMachineForExecution). Both paths, rehearsal and
deployed, read them the same way.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

PREPARE_STATE = "Prepare execution"  # its output carries the execution's resolved Options


def state_counts(history: list[dict[str, Any]]) -> dict[str, int]:
    """How many times the execution entered each state (a loop's state counts once per turn)."""
    counts: Counter[str] = Counter()
    for event in history:
        if event["type"].endswith("StateEntered"):
            counts[event["stateEnteredEventDetails"]["name"]] += 1
    return dict(sorted(counts.items()))


def transition_counts(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each transition taken (a state exited, the next entered) and how often.

    A Map iteration starts afresh: the first state of an iteration was not entered from the last state of the one
    before it, so the chain is cut at every Map event.
    """
    counts: Counter[tuple[str, str]] = Counter()
    last_exited: str | None = None
    for event in history:
        kind = event["type"]
        if kind.startswith("Map") and not kind.endswith(("StateEntered", "StateExited")):
            last_exited = None
        elif kind.endswith("StateExited"):
            last_exited = event["stateExitedEventDetails"]["name"]
        elif kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            if last_exited is not None:
                counts[(last_exited, name)] += 1
            last_exited = None
    return [{"from": source, "to": target, "count": count} for (source, target), count in sorted(counts.items())]


def resolved_options(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The execution's Options with every default filled in, as Prepare returned them (empty if it never did)."""
    for event in history:
        details = event.get("stateExitedEventDetails")
        if event["type"] == "TaskStateExited" and details and details["name"] == PREPARE_STATE:
            try:
                options = json.loads(details.get("output") or "{}").get("Options")
            except (json.JSONDecodeError, AttributeError):
                return {}
            return options if isinstance(options, dict) else {}
    return {}


def state_machine_graph(definition: str | dict[str, Any]) -> dict[str, Any]:
    """The states of a definition and the transitions between them, nested machines (Map, Parallel) flattened with
    their parent named: what the report draws, independent of the ASL's own layout."""
    machine = json.loads(definition) if isinstance(definition, str) else definition
    states: list[dict[str, Any]] = []
    _collect(machine, None, states)
    return {"startAt": machine["StartAt"], "states": states}


def _collect(machine: dict[str, Any], parent: str | None, into: list[dict[str, Any]]) -> None:
    for name, state in machine["States"].items():
        into.append(
            {
                "name": name,
                "type": state["Type"],
                "parent": parent,
                "start": name == machine["StartAt"],
                "end": bool(state.get("End")) or state["Type"] in ("Succeed", "Fail"),
                "next": _targets(state),
            }
        )
        nested = state.get("ItemProcessor") or state.get("Iterator")
        if nested:
            _collect(nested, name, into)
        for branch in state.get("Branches", []):
            _collect(branch, name, into)


def _targets(state: dict[str, Any]) -> list[dict[str, str]]:
    """Where a state can go next, each target once, with how: next, choice, default or catch."""
    found: list[dict[str, str]] = []

    def add(target: str | None, how: str) -> None:
        if target and all(edge["to"] != target for edge in found):
            found.append({"to": target, "how": how})

    add(state.get("Next"), "next")
    for choice in state.get("Choices", []):
        add(choice.get("Next"), "choice")
    add(state.get("Default"), "default")
    for catcher in state.get("Catch", []):
        add(catcher.get("Next"), "catch")
    return found
