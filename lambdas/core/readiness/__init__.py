"""Readiness: is a plan still able to run, between drills? (docs/readiness.md)

A check catalogue, as Prowler's checks and cfn-lint's rules are built: one module per finding code under `checks/`,
its metadata beside it (code, severity, what it reads, remediation, link), a registry (`checks.CHECKS`), and a
runner (`runner.evaluate`) that knows no check. The facts the checks read are gathered by `estate.Estate`, lazily and
in bounded calls (one listing per account and Region, batched EC2 describes); `service.py` is the deployed use
(stored per plan, a metric, an event on change, a notification on FAIL), `drsctl plan readiness` the local one.
"""
