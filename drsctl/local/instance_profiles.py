"""The scenario's instance profiles in moto's IAM, in every account of the estate: what readiness's GetInstanceProfile
finds (LAUNCH_CONFIG_INVALID names a profile that is missing).

IAM is moto's, not the emulator's. The orchestrator's own account is moto's default one (the credentials of the
rehearsal, the sandbox and `drsctl plan readiness --scenario`); a member account is the moto account its member
role's credentials (moto's STS AssumeRole) belong to, so its profiles are created in that account's IAM directly.
"""

from __future__ import annotations

from typing import Any

from moto.iam.models import iam_backends

from drsctl.emulator import Scenario
from drsctl.emulator.launch import LaunchEstate, create_instance_profiles

PARTITION = "aws"


def create_in_every_account(estate: LaunchEstate, scenario: Scenario, iam: Any) -> None:
    """`iam`: a client of moto's IAM with the orchestrator's credentials."""
    create_instance_profiles(estate, iam)
    for member in scenario.accounts:
        backend = iam_backends[member.id][PARTITION]
        for name in sorted(estate.instance_profiles - set(backend.instance_profiles)):
            backend.create_instance_profile(name=name, path="/", role_names=[])
