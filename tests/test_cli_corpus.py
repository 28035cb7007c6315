"""Bad input never gets a traceback: every case of tests/cli_corpus/cases.yaml exits 2 and names the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from drsctl.cli import app

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "cli_corpus"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())


def _fill(text: str, tmp: Path) -> str:
    return text.format(corpus=CORPUS, examples=ROOT / "examples", tmp=tmp)


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c["args"]).replace("{corpus}/", "") for c in CASES])
def test_bad_input_exits_2_with_a_message_and_no_traceback(case, tmp_path):
    result = CliRunner().invoke(app, [_fill(arg, tmp_path) for arg in case["args"]], env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for expected in case["expect"]:
        assert _fill(expected, tmp_path) in result.output


def test_every_corpus_file_is_used_by_a_case():
    named = " ".join(arg for case in CASES for arg in case["args"])
    for path in CORPUS.rglob("*"):
        if path.is_file() and path.name != "cases.yaml":
            assert path.relative_to(CORPUS).as_posix() in named, f"{path} is in no case"
