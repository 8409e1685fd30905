"""The benchmark registry: BRIGHT's 12 domains and 8 long-document ones, each with an instruction kind; domain
selection; display order; the one place that lists domains."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rtriever_eval.errors import ConfigError
from rtriever_eval.registry import BENCHMARKS, BRIGHT_DOMAINS, display_order, select_domains

PACKAGE = Path(__file__).resolve().parents[1] / "rtriever_eval"


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
