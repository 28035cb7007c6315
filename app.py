#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` / `npx cdk deploy` (see README, Deploy)."""

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.nag import acknowledge_findings
from stacks.recovery_stack import DrsOrchestratorStack

app = cdk.App()
stack = DrsOrchestratorStack(
    app, "DrsOrchestrator", description="DRS recovery plans run wave by wave by Step Functions"
)
acknowledge_findings(stack)
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
