"""The README's reference tables are generated from the code; this fails if they drift apart."""

from pathlib import Path

from grpotui.reference import fill

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_tables_match_the_code():
    text = README.read_text()
    assert fill(text) == text, "README tables are stale: run `python -m grpotui.reference README.md`"
