"""Every remediation is quoted word for word from the guide, under a section the guide has."""

from pathlib import Path

import pytest

from diagnostics.guide import REMEDIES, SECTIONS
from diagnostics.models import FindingKind

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "session-persistence-guide.txt").read_text()
HEADINGS = {line.strip() for line in GUIDE.splitlines()}


def section_text(section: str) -> str:
    """The guide's text from this heading to the next one of SECTIONS."""
    start = GUIDE.index(section + "\n")
    ends = [GUIDE.index(other + "\n") for other in SECTIONS if GUIDE.index(other + "\n") > start]
    return GUIDE[start : min(ends, default=len(GUIDE))]


def test_it_has_a_remedy_for_every_finding_kind():
    assert set(REMEDIES) == set(FindingKind.values)


@pytest.mark.parametrize("section", SECTIONS)
def test_it_names_sections_the_guide_has(section):
    assert section in HEADINGS


@pytest.mark.parametrize("kind", FindingKind.values)
def test_it_quotes_the_guide_verbatim(kind):
    remedy = REMEDIES[kind]
    assert remedy.section in SECTIONS
    for section, quote in remedy.quotes:
        assert section in SECTIONS
        assert quote in section_text(section), f"{kind}: not in {section!r}: {quote[:60]}"
        assert quote in remedy.text
