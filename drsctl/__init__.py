"""drsctl: the operator CLI and the local runtime (DRS emulator, local engine, rehearsal)."""
