"""`drsctl sandbox`: the deployed stack's APIs on one local endpoint, for `drsctl run` and any AWS SDK.

`clock.py` is time running X times faster than real time, `front.py` the one HTTP endpoint that routes each request
to moto or the DRS emulator by its SigV4 service, `cloudformation.py` the stack's outputs, `events.py` what
EventBridge does when an execution ends, `stage.py` puts them together.
"""
