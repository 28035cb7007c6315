"""Lambda code: thin handlers (`handlers/`) over one shared core (`core/`). Imports neither CDK nor drsctl."""
