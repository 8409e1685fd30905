"""The landing README stays a landing page (at most 150 lines) and keeps the two set-up commands, and every page it
links exists (the site itself is built with ``mkdocs build --strict`` by the test command)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_is_a_landing_page_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert "bash scripts/quickstart.sh\n" in blocks and "bash scripts/test.sh\n" in blocks
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_every_page_the_readme_links_exists_and_is_in_the_site() -> None:
    text = (ROOT / "README.md").read_text()
    nav = (ROOT / "mkdocs.yml").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert links
    for link in links:
        assert (ROOT / link).is_file(), link
        if link.endswith(".md"):
            assert link.removeprefix("docs/") in nav, link
