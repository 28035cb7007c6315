#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` / `npx cdk deploy` (see README, Deploy)."""

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.member_account import MemberAccountStack
from stacks.nag import acknowledge_findings, acknowledge_member_findings
from stacks.recovery_stack import DrsOrchestratorStack

app = cdk.App()
stack = DrsOrchestratorStack(
    app, "DrsOrchestrator", description="DRS recovery plans run wave by wave by Step Functions"
)
acknowledge_findings(stack)
# Deployed in each member account (make deploy-member, or its template as a StackSet): docs/accounts.md
member = MemberAccountStack(
    app, "DrsOrchestratorMember", description="drs-orchestrator member account: the role its functions assume here"
)
acknowledge_member_findings(member)
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
