from pathlib import Path

import pytest

from app.cli import main
from app.config import ROOT


def test_validate_passes_on_shipped_templates(capsys: pytest.CaptureFixture[str]) -> None:
    paths = sorted(str(p) for p in (ROOT / "scorecards").glob("*.yaml"))
    assert main(["validate", *paths]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_fails_with_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: x\nversion: 1\ntitle: X\nperspectives:\n  - key: p\n    title: P\n    csfs: []\n")
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad.yaml:" in out and "perspectives[0].csfs" in out


def test_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert '"perspectives"' in capsys.readouterr().out
