"""report.html from the real quickstart, parsed with the standard library's HTML parser: tables for every run and
domain, the explorer's data for every query (top 10, gold, metrics, snippets), nothing loaded from the network."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from tests.conftest import Quickstart


class Page(HTMLParser):
    """Tables (rows of cell texts), every src/href/action attribute, style text and the explorer's JSON."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.links: list[str] = []
        self.styles: list[str] = []
        self.data: str = ""
        self._stack: list[str] = []
        self._json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._stack.append(tag)
        values = dict(attrs)
        self.links += [v or "" for k, v in attrs if k in ("src", "href", "action", "srcset", "poster")]
        if "style" in values:
            self.styles.append(values["style"] or "")
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        self._json = tag == "script" and values.get("type") == "application/json"

    def handle_endtag(self, tag: str) -> None:
        if self._stack:
            self._stack.pop()
        self._json = False

    def handle_data(self, data: str) -> None:
        if self._json:
            self.data += data
        elif self._stack and self._stack[-1] == "style":
            self.styles.append(data)
        elif self._stack and self._stack[-1] in ("td", "th", "b", "span") and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(data.strip())


def _page(quickstart: Quickstart) -> tuple[str, Page]:
    path = quickstart.results / "report" / "report.html"
    text = path.read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    return text, page


def test_the_quickstart_writes_a_report_with_tables_for_every_run_and_domain(quickstart: Quickstart) -> None:
    assert "HTML report" in quickstart.proc.stdout
    _, page = _page(quickstart)
    headers = [t[0] for t in page.tables if t]
    assert ["run", "biology", "earth_science", "leetcode", "avg"] in headers
    rows = {r[0] for t in page.tables for r in t[1:] if r}
    assert {"bm25", "bm25_bright", "minilm"} <= rows
    # the nDCG@10 table's numbers are the summaries' (x100, one decimal)
    summary = json.loads((quickstart.results / "minilm" / "sample" / "leetcode" / "summary.json").read_text())
    table = next(t for t in page.tables if t and t[0][:2] == ["run", "biology"])
    minilm = next(r for r in table if r and r[0] == "minilm")
    assert f"{summary['metrics']['nDCG@10'] * 100:.1f}" in minilm


def test_the_explorer_holds_every_query_with_its_top_10_gold_and_metrics(quickstart: Quickstart) -> None:
    _, page = _page(quickstart)
    data = json.loads(page.data)
    sample = data["datasets"]["sample"]["domains"]
    assert set(sample) == {"biology", "earth_science", "leetcode"}
    for domain, entry in sample.items():
        examples = [json.loads(line) for line in (Path(__file__).parents[2] / "rtriever_eval" / "data" / "sample" /
                    "examples" / f"{domain}.jsonl").open()]  # fmt: skip
        assert set(entry["queries"]) == {row["id"] for row in examples}
        assert all(entry["queries"][row["id"]] == row["query"] for row in examples)
        assert all(sorted(entry["gold"][row["id"]]) == sorted(set(row["gold_ids"])) for row in examples)
        for run in ("bm25", "bm25_bright", "minilm"):
            got = entry["runs"][run]
            lines: dict[str, list[str]] = {}
            for line in next(quickstart.results.glob(f"{run}/sample/{domain}/run.trec")).open():
                qid, _, doc, *_ = line.split()
                lines.setdefault(qid, []).append(doc)
            for qid, docs in lines.items():
                top = docs[:10]
                assert [d for d, _ in got["top"][qid]] == top
                assert all(d in entry["docs"] for d in top)  # a snippet for everything shown
            assert set(got["metrics"]) == set(entry["queries"])
            assert all(g in entry["docs"] for gold in entry["gold"].values() for g in gold)


def test_the_report_references_nothing_outside_itself(quickstart: Quickstart) -> None:
    text, page = _page(quickstart)
    assert page.links and all(link.startswith(("data:", "#")) for link in page.links), page.links
    assert not any(re.search(r"url\(|@import", style) for style in page.styles)
    # no script or style is fetched: the only script tags are inline
    assert not re.search(r"<script[^>]+src=", text) and not re.search(r"<link[^>]+href=", text)
