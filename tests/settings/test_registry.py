"""The benchmark registry: BRIGHT's 12 domains and 8 long-document ones, each with an instruction kind; domain
selection; display order; the one place that lists domains."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.settings.registry import BENCHMARKS, BRIGHT_DOMAINS, display_order, select_domains

PACKAGE = Path(__file__).resolve().parents[2] / "rtriever_eval"


def test_bright_has_twelve_domains_eight_long_and_a_kind_for_each() -> None:
    bright = BENCHMARKS["bright"]
    assert len(bright.domains) == 12 and len(bright.long_domains) == 8 and "pony" in bright.long_domains
    assert set(bright.kinds) == set(bright.domains)
    assert BENCHMARKS["sample"].domains == ("biology", "earth_science", "leetcode")
    assert set(BENCHMARKS["bright_pro"].domains) <= set(bright.long_domains)


def test_selection_keeps_the_order_asked_and_refuses_unknown_or_repeated() -> None:
    bright = BENCHMARKS["bright"]
    assert select_domains(bright, ["pony", "aops"], long_documents=False, path=None, dataset="b") == ["pony", "aops"]
    with pytest.raises(ConfigError, match="valid domains: biology"):
        select_domains(bright, ["aops"], long_documents=True, path=None, dataset="b")  # no long aops
    with pytest.raises(ConfigError, match="twice"):
        select_domains(bright, ["aops", "aops"], long_documents=False, path=None, dataset="b")
    assert select_domains(BENCHMARKS["beir"], None, long_documents=False, path="/x/scifact", dataset="beir") == [
        "scifact"
    ]


def test_display_order_is_brights_then_alphabetical() -> None:
    assert display_order(["zeta", "leetcode", "alpha", "biology"]) == ["biology", "leetcode", "alpha", "zeta"]


def test_no_other_module_or_config_lists_brights_domains() -> None:
    """A file naming all twelve domains is a second domain list (per-domain overrides, such as the natural set's
    task names, name only the domains they change)."""
    offenders = []
    for path in [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.yaml")]:
        words = set(re.findall(r"[a-z_]+", path.read_text("utf-8")))
        if path.name != "registry.py" and set(BRIGHT_DOMAINS) <= words:
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == [], offenders


def test_the_long_track_headlines_recall_at_1_and_a_users_metrics_win(tmp_path: Path) -> None:
    from rtriever_eval.reporting.regression import default_metric
    from rtriever_eval.reporting.tables import build_reports
    from rtriever_eval.settings.registry import LONG, SHORT, headline_of
    from tests.helpers import evaluate_in_process

    assert (LONG.headline, LONG.metrics[0], SHORT.headline) == ("R@1", "R@1", "nDCG@10")
    assert headline_of(["long", "long"]) == "R@1" and headline_of(["long", "short"]) == "nDCG@10"
    common = ("model=bm25", "dataset=sample_long", "print_report=false", f"paths.cache_dir={tmp_path / 'c'}")
    evaluate_in_process(*common, f"paths.results_dir={tmp_path / 'a'}")
    evaluate_in_process(*common, f"paths.results_dir={tmp_path / 'b'}", "metrics=[nDCG@10,R@100]")
    text, _ = build_reports(tmp_path / "a")
    assert "### R@1 ×100 on sample_long" in text and default_metric(str(tmp_path / "a")) == "R@1"
    summary = json.loads(next((tmp_path / "b").rglob("summary.json")).read_text())
    assert list(summary["metrics"]) == ["nDCG@10", "R@100"] and summary["track"] == "long"
