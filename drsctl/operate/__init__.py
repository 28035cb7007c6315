"""The AWS side of `drsctl run` and `drsctl plan list|show|diff`: find the deployed stack, read its records, start,
answer, stop and clean up executions. Plain boto3 against whatever endpoint the environment names (AWS, or the
sandbox); the commands in `drsctl/commands/` print what these return."""
