"""The drill report (docs/report.md): one JSON document (docs/report.schema.json) and one self-contained HTML page.

- `history.py`: what the execution history says (states entered, transitions taken, resolved options) and the
  state machine's graph, read from its definition.
- `rpo.py`: the point in time each server was recovered from, asked of DRS.
- `judge.py`: targets met or not (RTO, RPO), counts and the one-sentence verdict, added to a report's JSON.
- `deployed.py`: the same JSON from a deployed stack's records (DynamoDB, Step Functions, DRS).
- `model.py`: reading a report JSON file and checking it against the schema.
- `html.py` (page), `gantt.py` (timeline SVG), `graph.py` (path-taken SVG), `svg.py` (escaping, shared bits).

Nothing here imports moto or the engine: `drsctl report` renders a JSON file quickly.
"""
