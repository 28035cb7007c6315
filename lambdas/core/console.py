"""Links to the AWS console, in every partition: the console's host differs between the commercial Regions, China and
GovCloud (US), so a link is built from the partition of the ARN it shows.

The stack's StateMachineConsoleUrl output (stacks/recovery_stack.py, through a CloudFormation mapping on
AWS::Partition) and `drsctl run start` (drsctl/operate/stack.py) build their links from CONSOLE_HOSTS.
"""

from __future__ import annotations

from urllib.parse import quote

# partition -> the console's host (AWS General Reference: "AWS Management Console" per partition)
CONSOLE_HOSTS: dict[str, str] = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def partition_of(arn: str) -> str:
    """The partition an ARN names (`arn:<partition>:...`); an unknown one is refused rather than linked wrongly."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[1] not in CONSOLE_HOSTS:
        raise ValueError(f"{arn!r} is not an ARN of a partition with a console ({', '.join(CONSOLE_HOSTS)})")
    return parts[1]


def region_of(arn: str) -> str:
    return arn.split(":")[3]


def states_url(arn: str, view: str) -> str:
    """The Step Functions console page `view` (`statemachines/view` or `v2/executions/details`) of an ARN, on the
    console of the ARN's partition and in its Region."""
    region = region_of(arn)
    host = CONSOLE_HOSTS[partition_of(arn)]
    return f"https://{host}/states/home?region={region}#/{view}/{quote(arn, safe=':/-_.')}"
