"""The one Logger every handler uses: structured JSON, the Step Functions execution name as correlation id."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="drs-orchestrator")
