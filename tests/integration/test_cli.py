from pathlib import Path

import pytest

from app.cli import _fit, main
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


def test_demo_link_columns_mark_a_cut_name() -> None:
    """The demo prints cluster and member in columns of 28: a longer name ends in an ellipsis, so that "Thai Food
    Cluster (Bangkok &" is not read as the start of the member's name beside it."""
    cut = _fit("Thai Food Cluster (Bangkok & Central)", 28)
    assert cut == "Thai Food Cluster (Bangkok…".ljust(28)
    assert _fit("Gres Castellón", 28) == "Gres Castellón".ljust(28)
    assert _fit("x" * 28, 28) == "x" * 28
