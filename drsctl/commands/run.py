"""`drsctl run`: start, watch, list, show, approve, cancel, clean up and resume executions of the deployed stack
(or of the sandbox: the same calls to another endpoint). The SDK is imported when a command runs."""

from __future__ import annotations

import math
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from drsctl.commands.common import console, fail_invalid
from drsctl.commands.inputs import point_in_time_problems
from drsctl.commands.operating import (
    JSON_OPTION,
    STACK_OPTION,
    check_execution_name,
    check_plan_id,
    check_status,
    find,
    on_interrupt,
    operating,
    print_json,
)
from drsctl.commands.rehearse import MODE_OPTION, Mode
from drsctl.stamps import LineStamps

if TYPE_CHECKING:
    from drsctl.operate.executions import Snapshot
    from drsctl.operate.stack import DeployedStack

run_app = typer.Typer(help="Operate executions of the deployed stack (or the sandbox).", no_args_is_help=True)
EXIT_COMPLETED, EXIT_NOT_COMPLETED = 0, 1
RECORD_GRACE_SECONDS = 60.0  # after Step Functions ends, how long `watch` waits for the record to end too


def _name() -> Any:
    return typer.Argument(help="The execution's name (its ExecutionId).", metavar="NAME", show_default=False)


@run_app.command()
def start(  # noqa: PLR0917 - typer reads a command's options from its parameters
    plan_id: Annotated[
        str, typer.Argument(help="The stored plan to run (drsctl plan load FILE stores one).", metavar="PLAN_ID")
    ],
    mode: Annotated[Mode, MODE_OPTION] = Mode.drill,
    name: Annotated[str | None, typer.Option(help="The execution's name; default <plan>-<mode>-<UTC time>.")] = None,
    resume_from: Annotated[
        str | None, typer.Option(help="An earlier execution of this plan to resume from (its name).")
    ] = None,
    confirm: Annotated[
        str | None, typer.Option(help='For RECOVERY, in scripts: exactly "RECOVER <PlanId>" (else it is asked).')
    ] = None,
    point_in_time: Annotated[
        str | None,
        typer.Option(
            "--point-in-time",
            metavar="TIME",
            help="Recover to this moment (ISO 8601, UTC, e.g. 2026-01-01T03:00:00Z): each server launches from its "
            "newest recovery snapshot at or before it (a resume keeps the first execution's).",
        ),
    ] = None,
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Start a DRILL or a RECOVERY of a stored plan, recording who starts it (the caller's AWS identity, StartedBy).
    Refused (exit code 2, naming it) while an execution of the plan runs. A RECOVERY first lists, per wave, the
    Region, account, servers (resolved in DRS), hostnames and worst replication lag, and asks for
    "RECOVER <PlanId>" to be typed; nothing starts without it. Prints the name and the console URL."""
    check_plan_id(plan_id, "PLAN_ID")
    if name is not None:
        check_execution_name(name, "--name")
    if resume_from is not None:
        check_execution_name(resume_from, "--resume-from")
    if point_in_time is not None and (problems := point_in_time_problems(point_in_time)):
        raise fail_invalid("\n".join(problems))
    deployed = find(stack, "start the execution")
    _start(
        deployed,
        plan_id=plan_id,
        mode="DRILL" if mode is Mode.drill else "RECOVERY",
        name=name,
        resume_from=resume_from,
        confirm=confirm,
        json_output=json_output,
        point_in_time=point_in_time,
    )


def _start(
    deployed: DeployedStack,
    *,
    plan_id: str,
    mode: str,
    name: str | None,
    resume_from: str | None,
    confirm: str | None,
    json_output: bool,
    point_in_time: str | None = None,
) -> None:
    from drsctl.operate import conflicts, executions, identity

    what = "start the execution"
    with operating(what):
        plan = executions.stored_plan(deployed, plan_id)
        _refuse_if_running(conflicts.running_executions(deployed, plan_id), plan_id)
        if resume_from is not None:
            executions.check_resumable(deployed, resume_from, plan_id)
        if point_in_time is not None:
            executions.check_point_in_time(deployed, point_in_time, resume_from)
        caller = identity.caller(deployed)
        if mode == "RECOVERY" and confirm is None:
            from drsctl.commands.confirmation import ask_confirmation

            confirm = ask_confirmation(plan, deployed.account)  # the stack's: groups naming no Account are there
        chosen = name or executions.default_name(plan_id, "RECOVERY" if mode == "RECOVERY" else "DRILL")
        started = executions.start(
            deployed,
            plan_id,
            "RECOVERY" if mode == "RECOVERY" else "DRILL",
            chosen,
            confirm=confirm,
            resume_from=resume_from,
            started_by=caller.arn,
            point_in_time=point_in_time,
        )
    if json_output:
        print_json(started)
        return
    out = console()
    out.print(f"Started {mode} {started['ExecutionId']} of plan {plan_id}", soft_wrap=True)
    if resume_from:
        out.print(f"resuming from {resume_from}", soft_wrap=True)
    if point_in_time:
        out.print(
            f"recovering to {point_in_time}: each server from its newest snapshot at or before it", soft_wrap=True
        )
    out.print(f"console: {started['ConsoleUrl']}", soft_wrap=True)
    out.print(f"follow it: drsctl run watch {started['ExecutionId']}", soft_wrap=True)


def _refuse_if_running(running: list[Any], plan_id: str) -> None:
    """A second execution of a running plan would fail in Prepare (ExecutionConflictError, the failed-executions
    alarm on AWS): refused here, before StartExecution, naming the execution that runs it."""
    if not running:
        return
    from drsctl.operate.executions import OperateError

    first = running[0]
    others = f" (and {len(running) - 1} more)" if len(running) > 1 else ""
    raise OperateError(
        f"plan {plan_id} is already running in {first.describe()}{others}: nothing was started; wait for it to end "
        f"(drsctl run watch {first.name}) or cancel it (drsctl run cancel {first.name} --reason ...)"
    )


@run_app.command()
def watch(
    name: Annotated[str, _name()],
    interval: Annotated[float, typer.Option(help="Seconds between reads.", min=0.1, max=300)] = 2.0,
    servers: Annotated[
        bool | None, typer.Option("--servers/--no-servers", help="List every server / none (default: small waves).")
    ] = None,
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Follow an execution until it ends: waves, servers, runbook steps and the approval waiting, live in a terminal
    with its start, elapsed time and RTO countdown; piped, one line per change, each starting with its UTC time
    (HH:MM:SS, the date when it changes). Exit code 0 when it ends COMPLETED, 1 otherwise."""
    from drsctl.commands.run_views import headline, timing_line

    check_execution_name(name, "NAME")
    if not math.isfinite(interval):
        raise fail_invalid(f"--interval {interval}: give a number of seconds from 0.1 to 300")
    out = console()
    live = out.is_terminal and not json_output
    stamps = LineStamps()
    left = (
        f"stopped watching; execution {name} goes on (it is not cancelled): drsctl run watch {name} follows it "
        f'again, drsctl run cancel {name} --reason "..." stops it'
    )
    with on_interrupt(left):
        deployed = find(stack, "watch the execution")
        with operating(f"watch execution {name}"):
            current = _follow(deployed, name, interval, servers=servers, live=live, quiet=json_output, stamps=stamps)
    if json_output:
        print_json(current.to_json())
    elif live:
        if current.record_running:
            out.print(f"the record still says {current.record_status}: the stack's reconcile has not ended it yet")
    else:
        timing = timing_line(current)  # the waves' lines came as they changed
        _say(stamps, current.now, headline(current).plain + (f"; {timing.plain}" if timing is not None else ""))
        _print_end(current, stamps)
    raise typer.Exit(EXIT_COMPLETED if current.status == "COMPLETED" else EXIT_NOT_COMPLETED)


ACTIVE_RECORD = ("PENDING", "POLLING")  # a record still being written by its execution


def _say(stamps: LineStamps, now: float, text: str) -> None:
    """Print `text` piped: each of its lines starting with its UTC time (the stack's clock)."""
    out = console()
    for line in stamps.lines(now, text):
        out.print(line, soft_wrap=True)


def _follow(  # noqa: PLR0912 - one loop: read, show, decide whether it ended
    deployed: DeployedStack,
    name: str,
    interval: float,
    *,
    servers: bool | None,
    live: bool,
    quiet: bool,
    stamps: LineStamps,
) -> Snapshot:
    """Read the execution every `interval` seconds until it ends (or its record does not end in time after Step
    Functions ended it), showing it live, or printing each wave's line when it changes."""
    from rich.live import Live

    from drsctl.commands.run_views import cleanup_line, headline, progress_lines, render, timing_line
    from drsctl.operate import executions, plan_facts

    out = console()
    current = plan_facts.attach(deployed, executions.snapshot(deployed, name))
    if not live and not quiet:
        timing = timing_line(current)
        _say(stamps, current.now, headline(current).plain + (f"; {timing.plain}" if timing is not None else ""))
    view = Live(render(current, servers=servers), console=out, refresh_per_second=4) if live else None
    printed: set[str] = set()
    ended_at: float | None = None
    if view is not None:
        view.start()
    try:
        while True:
            if view is not None:
                view.update(render(current, servers=servers))
            elif not quiet:
                cleanup = cleanup_line(current)
                for line in [*progress_lines(current), *([cleanup.plain] if cleanup is not None else [])]:
                    if line not in printed:
                        printed.add(line)
                        _say(stamps, current.now, line)
            if not current.running:
                return current
            record = current.record
            if record is not None and record.Status not in ACTIVE_RECORD and record.Cleanup is not None:
                # the drill has ended; its cleanup waits (AfterMinutes) or runs: say so rather than fall silent
                line = (
                    f"execution {name}: the drill ended {current.status}; its cleanup is "
                    f"{record.Cleanup.Status.lower().replace('_', ' ')} (drsctl run show {name} follows it)"
                )
                if view is not None:
                    out.print(line, soft_wrap=True)
                else:
                    _say(stamps, current.now, line)
                return current
            if current.described["status"] != "RUNNING":
                ended_at = ended_at or time.monotonic()
                if time.monotonic() - ended_at > RECORD_GRACE_SECONDS:
                    return current  # the record never ended: the caller says so
            time.sleep(interval)
            facts = current
            current = executions.snapshot(deployed, name)
            current.rto_minutes, current.callbacks = facts.rto_minutes, facts.callbacks
    finally:
        if view is not None:
            view.stop()


def _print_end(current: Snapshot, stamps: LineStamps) -> None:
    if current.record_running:
        _say(
            stamps,
            current.now,
            f"the record still says {current.record_status}: the stack's reconcile has not ended it yet",
        )
        return
    message = (current.record.ErrorMessage if current.record else None) or current.described.get("cause")
    if message and current.status != "COMPLETED":
        _say(stamps, current.now, str(message))


@run_app.command("list")
def list_(
    plan: Annotated[str | None, typer.Option(help="Only this plan's executions.")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="Only executions in this state: RUNNING, COMPLETED, PARTIAL, FAILED, CANCELLED or TIMED_OUT (any "
            "case)."
        ),
    ] = None,
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """List executions from the ExecutionHistory table, newest first: status (RUNNING, COMPLETED, PARTIAL, FAILED,
    CANCELLED, TIMED_OUT), start and the drill cleanup's state."""
    from drsctl.operate import executions

    if plan is not None:
        check_plan_id(plan, "--plan")
    if status is not None:
        status = check_status(status)
    from drsctl.operate import readiness

    deployed = find(stack, "list executions")
    with operating("list executions"):
        found = executions.list_executions(deployed, plan_id=plan, status=status)
        statuses = readiness.statuses(deployed)
    for item in found:  # the readiness of each execution's plan, as last evaluated
        item["planReadiness"] = (statuses.get(str(item.get("PlanId"))) or {}).get("status")
    if json_output:
        print_json(found)
        return
    if not found:
        console().print("no executions" + (f" of plan {plan}" if plan else "") + (f" {status}" if status else ""))
        return
    out = console()
    out.print(_executions_table(found, wide=out.width >= WIDE_LIST))


WIDE_LIST = 120  # one line per execution from this console width up; narrower, each row stacks two values a cell


def _executions_table(found: list[dict[str, Any]], *, wide: bool) -> Any:
    """The executions, execution names never cut: one line each when wide, else stacked cells that fit 80 columns."""
    from rich.table import Table

    from drsctl.commands.run_views import status_text

    def cleanup(item: dict[str, Any]) -> str:
        return str(item["cleanup"]["short"]) if item.get("cleanup") else "-"

    if wide:
        table = Table()
        for header in ("execution", "plan", "type", "status", "started (UTC)", "cleanup"):
            folds = header in ("plan", "cleanup")
            table.add_column(header, no_wrap=not folds, overflow="fold", ratio=1 if folds else None)
        for item in found:
            table.add_row(
                item["ExecutionId"],
                Text.assemble(str(item.get("PlanId")), " ", _readiness(item)),
                str(item.get("ExecutionType") or "-"),
                status_text(str(item.get("Status"))),
                _utc(item.get("StartTime")),
                cleanup(item),
            )
        return table
    table = Table()
    longest = max((len(str(item["ExecutionId"])) for item in found), default=9)
    table.add_column("execution\nplan", no_wrap=True)  # (rich's min_width is not kept when a table must shrink)
    table.add_column("type\nstatus", no_wrap=True)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("cleanup", overflow="fold", ratio=1, min_width=8)
    for item in found:
        table.add_row(
            Text.assemble(
                "\n".join([item["ExecutionId"], *textwrap.wrap(str(item.get("PlanId")), max(longest, 12))]),
                " ",
                _readiness(item),
            ),
            Text.assemble(str(item.get("ExecutionType") or "-"), "\n", status_text(str(item.get("Status")))),
            _utc(item.get("StartTime")).replace(" ", "\n"),
            cleanup(item),
        )
    return table


def _readiness(item: dict[str, Any]) -> Text:
    """The execution's plan's readiness as last evaluated, in brackets: `[FAIL]`; nothing when never evaluated."""
    from drsctl.commands.readiness import STATUS_STYLE

    status = item.get("planReadiness")
    return Text(f"[{status}]", style=STATUS_STYLE.get(str(status), "")) if status else Text("")


def _utc(epoch: Any) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(float(epoch), tz=UTC).strftime("%Y-%m-%d %H:%M:%S") if epoch else "-"


@run_app.command()
def show(
    name: Annotated[str, _name()],
    servers: Annotated[
        bool | None, typer.Option("--servers/--no-servers", help="List every server / none (default: small waves).")
    ] = None,
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Show an execution: its status (and what it waits for), start and elapsed time, waves, servers, runbook steps,
    any approval waiting and the drill cleanup's state."""
    from drsctl.commands.run_views import render
    from drsctl.operate import executions, plan_facts

    check_execution_name(name, "NAME")
    deployed = find(stack, "show the execution")
    with operating(f"show execution {name}"):
        current = plan_facts.attach(deployed, executions.snapshot(deployed, name))
    if json_output:
        print_json(current.to_json())
        return
    console().print(render(current, servers=servers))


@run_app.command()
def approve(
    name: Annotated[str, _name()],
    reject: Annotated[
        bool, typer.Option("--reject", help="Reject instead (needs --reason): the plan stops before the wave.")
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="Why (recorded with your answer): required with --reject, optional to approve.")
    ] = None,
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Answer the approval the execution waits for, as yourself: the answer is signed with your AWS credentials and
    sent to the stack's approval URL, where AWS authenticates you; your principal's ARN is recorded with the decision,
    the reason and the time (there is no --by: who you are is AWS's to say). An approval with Approvers: N needs N
    distinct principals; one rejection rejects. Needs the stack's ApproverPolicy (docs/approvals.md)."""
    from drsctl.operate import executions

    check_execution_name(name, "NAME")
    if reason is not None and not reason.strip():
        raise fail_invalid("--reason is empty: say why (it is recorded with your answer)")
    if reject and reason is None:
        raise fail_invalid("--reject needs --reason: say why you reject (it is recorded with your rejection)")
    deployed = find(stack, "answer the approval")
    with operating(f"answer the approval of execution {name}"):
        approval, answer = executions.answer_approval(deployed, name, reject=reject, reason=reason)
    if json_output:
        print_json({"ExecutionId": name, "Approval": approval.to_json(), "Answer": answer})
        return
    by = str(answer.get("By"))
    what = f"{approval.name} {approval.where}: "
    status = answer.get("Status")
    if status == "RECORDED":
        given = len({a.get("By") for a in answer.get("Approvals", []) if a.get("Decision") == "APPROVE"})
        needed = int(answer.get("ApproversNeeded") or 1)
        line = Text.assemble(
            what,
            Text("approval recorded", style="green"),
            f" for {by} ({given} of {needed} distinct principals); {needed - given} more must approve",
        )
    else:
        verb = Text("rejected", style="red") if status == "REJECTED" else Text("approved", style="green")
        line = Text.assemble(what, verb, f" by {by}")
    console().print(line, soft_wrap=True)


@run_app.command()
def cancel(
    name: Annotated[str, _name()],
    reason: Annotated[str, typer.Option(help="Why it is cancelled (recorded as the stop's cause).")],
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Stop a running execution (StopExecution) and wait for its record to end CANCELLED. DRS jobs already started
    go on; their servers are recorded UNKNOWN. Exit code 0 when the record ended, 1 when it did not in time."""
    from drsctl.operate import executions

    check_execution_name(name, "NAME")
    if not reason.strip():
        raise fail_invalid("--reason is empty: say why the execution is cancelled (it is recorded)")
    left = (
        f"stopped waiting: drsctl run show {name} says whether it was stopped (a stop is recorded with who and why; "
        "its record ends CANCELLED once the stack's reconcile has run)"
    )
    with on_interrupt(left):
        deployed = find(stack, "cancel the execution")
        with operating(f"cancel execution {name}"):
            current = executions.cancel(deployed, name, reason)
    if json_output:
        print_json(current.to_json())
    else:
        who = current.record.CancelledBy if current.record is not None else None
        console().print(
            Text.assemble(
                f"Execution {name} stopped; its record is ",
                Text(current.status, style="yellow"),
                f" (cancelled by {who})" if who else "",
            ),
            soft_wrap=True,
        )
    if current.running:
        raise typer.Exit(EXIT_NOT_COMPLETED)


@run_app.command()
def cleanup(
    name: Annotated[str, _name()],
    wait: Annotated[
        float, typer.Option(help="Minutes to wait for DRS to terminate them (0: do not wait).", min=0, max=1440)
    ] = 15,
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Terminate a finished DRILL's own drill instances now, as its DrillCleanup would, and wait for DRS to end
    them; recorded on its record. Refused for a RECOVERY. Exit code 1 when some were still being terminated at the
    end of --wait."""
    from drsctl.operate import executions

    check_execution_name(name, "NAME")
    if not math.isfinite(wait):
        raise fail_invalid(f"--wait {wait}: give a number of minutes from 0 to 1440")
    left = (
        f"stopped following; TERMINATE jobs already started go on in DRS: drsctl run cleanup {name} follows them "
        "again and records how they ended"
    )
    with on_interrupt(left):
        deployed = find(stack, "clean up the drill")
        with operating(f"clean up execution {name}"):
            result = executions.cleanup(deployed, name, wait_seconds=wait * 60)
    if json_output:
        print_json(result)
    elif not result["Terminated"] and not result["Pending"]:
        console().print(f"execution {name}: no recovery instance of it is left in DRS")
    else:
        out = console()
        out.print(
            f"execution {name}: {len(result['Terminated'])} recovery instance(s) terminated "
            f"(DRS job(s) {', '.join(result['TerminateJobIds'])})",
            soft_wrap=True,
        )
        if result["Pending"]:
            out.print(
                f"{len(result['Pending'])} still being terminated after {wait:g} minute(s): "
                f"{', '.join(result['Pending'])}; drsctl run cleanup {name} again later checks them",
                soft_wrap=True,
            )
    if result["Pending"]:
        raise typer.Exit(EXIT_NOT_COMPLETED)


@run_app.command()
def resume(
    name: Annotated[str, _name()],
    new_name: Annotated[str | None, typer.Option("--name", help="The new execution's name.")] = None,
    confirm: Annotated[
        str | None, typer.Option(help='When resuming a RECOVERY, in scripts: exactly "RECOVER <PlanId>".')
    ] = None,
    stack: Annotated[str | None, STACK_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Start a new execution of the same plan and mode that resumes from NAME (its input's ResumeFrom)."""
    from drsctl.operate import executions

    check_execution_name(name, "NAME")
    if new_name is not None:
        check_execution_name(new_name, "--name")
    deployed = find(stack, "resume the execution")
    with operating(f"resume execution {name}"):
        earlier = executions.snapshot(deployed, name, with_waves=False)
    plan_id = earlier.input.get("PlanId") or (earlier.record.PlanId if earlier.record else None)
    mode = earlier.input.get("ExecutionType") or (earlier.record.ExecutionType if earlier.record else None)
    if not plan_id or mode not in ("DRILL", "RECOVERY"):
        raise fail_invalid(f"cannot resume execution {name}: its input names no stored plan and mode")
    if earlier.running:
        raise fail_invalid(f"cannot resume execution {name}: it is still running; cancel it first")
    _start(
        deployed,
        plan_id=str(plan_id),
        mode=str(mode),
        name=new_name,
        resume_from=name,
        confirm=confirm,
        json_output=json_output,
    )


@run_app.command(name="report")
def report_command(
    name: Annotated[str, _name()],
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Write the drill report page (one self-contained HTML file).")
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the report's JSON (docs/report.schema.json).")
    ] = None,
    started_by: Annotated[
        str | None,
        typer.Option(
            help="Who started it, when neither the record (drsctl run start records the caller) nor CloudTrail "
            "says; shown as typed, not checked."
        ),
    ] = None,
    stack: Annotated[str | None, STACK_OPTION] = None,
) -> None:
    """The drill report of a deployed execution: the one the stack kept in its report bucket when the execution
    ended (reports/<PlanId>/<NAME>.json and .html), else built from its records, its history and DRS: the same page
    and JSON as `drsctl rehearse --html/--json` (docs/report.md). It is built anew when its record changed since
    (an operator's cleanup), or with --started-by."""
    from drsctl.commands.inputs import check_writable, write_text

    check_execution_name(name, "NAME")
    if html_file is None and json_file is None:
        raise fail_invalid("give --html FILE, --json FILE or both: where to write the report")
    for path, what in ((html_file, "HTML report"), (json_file, "report")):
        if path is not None:
            check_writable(path, what)  # before any AWS call
    deployed = find(stack, "build the drill report")
    with operating(f"build the report of execution {name}"):
        from drsctl.operate import executions

        current = executions.snapshot(deployed, name, with_waves=False)
        if current.record_running:
            raise fail_invalid(f"execution {name} is still running: build its report once it has ended")
        import json

        from drsctl.operate.kept_reports import kept, still_current

        found = kept(deployed, current.record.PlanId, name) if current.record and started_by is None else None
        if found is not None and current.record is not None and not still_current(found.report, current.record):
            found = None  # the record changed since its end (a cleanup): built anew below
    if found is not None:
        console().print(f"the report the stack kept: {found.location}", soft_wrap=True)
        if json_file is not None:
            write_text(json_file, json.dumps(found.report, indent=2) + "\n", "report")
            console().print(f"report written to {json_file}")
        if html_file is not None:
            write_text(html_file, found.html, "HTML report")
            console().print(f"HTML report written to {html_file}")
        return
    with operating(f"build the report of execution {name}"):
        import boto3
        from botocore.config import Config

        from drsctl.report.deployed import RunReportError, Sources, build_report, source_of

        stepfunctions = deployed.client("stepfunctions")
        source = source_of(stepfunctions)
        # Who started it, when the record does not say: CloudTrail's StartExecution event (best effort, never on
        # the sandbox, which has no CloudTrail); a few quick tries, the report does not wait on it.
        trail = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10)
        from lambdas.core import accounts, drs

        sources = Sources(
            dynamodb=deployed.client("dynamodb"),
            stepfunctions=stepfunctions,
            # each (account, Region) with the CLI's credentials, a member account through its role as the functions
            # reach it (which trusts only them: the report then says what it could not read)
            drs=lambda target: accounts.client("drs", target, drs.READ_CONFIG),
            history_table=deployed.tables["EXECUTION_HISTORY_TABLE"],
            waves_table=deployed.tables["EXECUTION_WAVES_TABLE"],
            cloudtrail=boto3.client("cloudtrail", region_name=deployed.region, config=trail)
            if source == "deployed"
            else None,
        )
        try:
            with deployed.environment():
                built = build_report(name, sources, started_by=started_by, source=source)
        except RunReportError as error:
            raise fail_invalid(str(error)) from error
    if json_file is not None:
        write_text(json_file, json.dumps(built, indent=2) + "\n", "report")
        console().print(f"report written to {json_file}")
    if html_file is not None:
        from drsctl.commands.report import write_html

        write_html(built, html_file)
        console().print(f"HTML report written to {html_file}")
