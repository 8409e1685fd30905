"""report.html from the real quickstart, parsed with the standard library's HTML parser: tables for every run and
domain, the explorer's data for every query (top 10, gold, metrics, snippets), nothing loaded from the network."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from tests.conftest import Quickstart


class Page(HTMLParser):
    """Tables (rows of cell texts, keyed by the metric of the block holding them), every src/href/action attribute,
    style text and the explorer's JSON."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.metric_tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self.styles: list[str] = []
        self.data: str = ""
        self._stack: list[str] = []
        self._json = False
        self._metric: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._stack.append(tag)
        values = dict(attrs)
        self.links += [v or "" for k, v in attrs if k in ("src", "href", "action", "srcset", "poster")]
        if "style" in values:
            self.styles.append(values["style"] or "")
        if tag == "div" and "data-metric" in values:
            self._metric = values["data-metric"]
        if tag == "table":
            self.tables.append([])
            if self._metric is not None:
                self.metric_tables[self._metric] = self.tables[-1]
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        self._json = tag == "script" and values.get("type") == "application/json"

    def handle_endtag(self, tag: str) -> None:
        if self._stack:
            self._stack.pop()
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._cell).strip())  # one string per cell, marks included
            self._cell = None
        if tag == "table":
            self._metric = None
        self._json = False

    def handle_data(self, data: str) -> None:
        if self._json:
            self.data += data
        elif self._stack and self._stack[-1] == "style":
            self.styles.append(data)
        elif self._cell is not None:
            self._cell.append(data)


def _page(quickstart: Quickstart) -> tuple[str, Page]:
    path = quickstart.results / "report" / "report.html"
    text = path.read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    return text, page


def test_the_quickstart_writes_a_report_with_tables_for_every_run_and_domain(quickstart: Quickstart) -> None:
    assert "HTML report" in quickstart.proc.stdout
    _, page = _page(quickstart)
    runs, domains = ["bm25", "bm25_bright", "minilm"], ["biology", "earth_science", "leetcode"]
    summaries = {(r, d): json.loads(next(quickstart.results.glob(f"{r}/sample/{d}/summary.json")).read_text())
                 for r in runs for d in domains}  # fmt: skip
    metrics = list(summaries["minilm", "biology"]["metrics"])
    assert sorted(page.metric_tables) == sorted(metrics)  # one table per metric of the summaries
    for metric, table in page.metric_tables.items():
        header, *rows = table
        assert header == ["run", *domains, "avg"]
        assert [r[0] for r in rows] == runs
        for row in rows:
            values = [summaries[row[0], d]["metrics"][metric] for d in domains]
            expected = [f"{v * 100:.1f}" for v in values] + [f"{sum(values) / len(values) * 100:.1f}"]
            assert row[1:] == expected, (metric, row)  # each value in its own domain's column, the macro average last


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
            # every per-query value equals per_query.tsv's (the explorer rounds to 6 decimals)
            tsv = next(quickstart.results.glob(f"{run}/sample/{domain}/per_query.tsv")).read_text().splitlines()
            columns = tsv[0].split("\t")[1:]
            for line in tsv[1:]:
                qid, *values = line.split("\t")
                assert list(got["metrics"][qid]) == columns
                for column, value in zip(columns, values, strict=True):
                    assert abs(got["metrics"][qid][column] - float(value)) <= 5e-7, (run, domain, qid, column)
            assert all(g in entry["docs"] for gold in entry["gold"].values() for g in gold)


def test_the_report_references_nothing_outside_itself(quickstart: Quickstart) -> None:
    text, page = _page(quickstart)
    assert page.links and all(link.startswith(("data:", "#")) for link in page.links), page.links
    assert not any(re.search(r"url\(|@import", style) for style in page.styles)
    # no script or style is fetched: the only script tags are inline
    assert not re.search(r"<script[^>]+src=", text) and not re.search(r"<link[^>]+href=", text)
