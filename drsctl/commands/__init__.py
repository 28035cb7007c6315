"""One sub-command per module, registered on the app in drsctl.cli."""
