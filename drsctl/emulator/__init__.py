"""A DRS emulator that speaks the real rest-json protocol (see docs/emulator.md).

`protocol.py` is the wire layer driven by botocore's model, `model.py` the behaviour, `scenario.py` the estate and
faults it is given, `server.py` serves it over HTTP.
"""

from drsctl.emulator.model import DrsEmulator
from drsctl.emulator.scenario import Scenario, load_scenario
from drsctl.emulator.server import RunningEmulator, serving, start

__all__ = ["DrsEmulator", "RunningEmulator", "Scenario", "load_scenario", "serving", "start"]
