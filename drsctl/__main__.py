"""The `drsctl` console script (and `python -m drsctl`): Ctrl-C while the CLI is still loading its modules (half a
second on a busy laptop) ends it like a Ctrl-C at any later moment: one line, exit code 130, no traceback.

Ctrl-C interrupts every command, whatever SIGINT disposition the process inherited: a background job of a
non-interactive shell (`drsctl run watch ... &` in a script, a CI runner's steps) starts with SIGINT ignored, and
Python keeps it ignored, so `kill -INT` did nothing to a `run watch` started that way (the served commands set their
handler too: drsctl/commands/common.py)."""

from __future__ import annotations

import signal
import sys

EXIT_INTERRUPTED = 130  # drsctl.cli's too; not imported from there: importing it is what may be interrupted


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from drsctl.cli import main as run  # noqa: PLC0415 - inside the try: the import is what Ctrl-C may cut
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    run()


if __name__ == "__main__":
    main()
