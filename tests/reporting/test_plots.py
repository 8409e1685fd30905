"""Figures from hand-made summaries: bars per run, tick labels per domain, error bars, deltas, recall curves, files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from rtriever_eval.base.errors import InputError
from rtriever_eval.cli.report import main as report_main
from rtriever_eval.reporting.plots import ablation_deltas, per_domain_bars, recall_curves, write_plots
from rtriever_eval.results.contract import collect_summaries
from tests.helpers import call_main

Recalls = tuple[float, float, float, float]  # nDCG@10, R@10, R@100, R@1000
VALUES: dict[str, dict[str, Recalls]] = {
    "base": {"biology": (0.20, 0.30, 0.60, 0.80), "leetcode": (0.10, 0.20, 0.50, 0.70)},
    "variant": {"biology": (0.25, 0.35, 0.65, 0.85), "leetcode": (0.05, 0.15, 0.45, 0.75)},
    "partial": {"biology": (0.40, 0.50, 0.70, 0.90)},
}


def _write(root: Path, values: Mapping[str, Mapping[str, Recalls]], dataset: str = "sample") -> pd.DataFrame:
    for run, domains in values.items():
        for domain, (ndcg, r10, r100, r1000) in domains.items():
            folder = root / "exp" / run / dataset / domain
            folder.mkdir(parents=True)
            metrics = {"nDCG@10": ndcg, "R@10": r10, "R@100": r100, "R@1000": r1000}
            summary = {"experiment": "exp", "run": run, "model": run, "dataset": dataset, "domain": domain}
            (folder / "summary.json").write_text(json.dumps({**summary, "metrics": metrics}))
    return collect_summaries(root)


@pytest.fixture
def df(tmp_path: Path) -> pd.DataFrame:
    return _write(tmp_path, VALUES)


def _bars(fig: object) -> list[BarContainer]:
    (ax,) = fig.axes  # type: ignore[attr-defined]
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def _ticks(fig: object) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_xticklabels()]  # type: ignore[attr-defined]


def test_per_domain_bars_one_container_per_run_one_group_per_domain(df: pd.DataFrame) -> None:
    fig = per_domain_bars(df)
    bars = _bars(fig)
    assert [b.get_label() for b in bars] == ["base", "partial", "variant"]
    assert _ticks(fig) == ["biology", "leetcode", "avg"]
    heights = {b.get_label(): [round(p.get_height(), 6) for p in b.patches] for b in bars}
    assert heights["base"] == [20.0, 10.0, 15.0]  # ×100, avg last
    assert heights["partial"][0] == 40.0 and np.isnan(heights["partial"][1:]).all()  # no partial average
    ax = fig.axes[0]
    assert ax.get_ylabel() == "nDCG@10 ×100"
    legend = ax.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["base", "partial", "variant"]
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_intervals_as_lo_hi_columns_become_error_bars(df: pd.DataFrame) -> None:
    values = df["metric:nDCG@10"]
    fig = per_domain_bars(df.assign(lo=values - 0.05, hi=values + 0.10))
    ax = fig.axes[0]
    errs = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(errs) == 3  # one per run
    segments = errs[0].lines[2][0].get_segments()  # the first run's vertical error lines
    lo, hi = segments[0][:, 1]  # first bar: biology of 'base', 20 -> [15, 30]
    assert (lo, hi) == pytest.approx((15.0, 30.0))


def test_intervals_from_a_significance_style_frame(df: pd.DataFrame) -> None:
    intervals = pd.DataFrame(
        {"biology_lo": [0.1], "biology_hi": [0.3], "avg_lo": [0.12], "avg_hi": [0.18]}, index=["base"]
    )
    fig = per_domain_bars(df, intervals=intervals)
    errs = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert errs and errs[0].lines[2][0].get_segments()[0][:, 1] == pytest.approx([10.0, 30.0])


def test_ablation_deltas_against_a_baseline(df: pd.DataFrame) -> None:
    fig = ablation_deltas(df, "base")
    bars = _bars(fig)
    assert [b.get_label() for b in bars] == ["partial", "variant"]  # every run but the baseline
    assert _ticks(fig) == ["biology", "leetcode", "avg"]
    variant = [p.get_height() for p in bars[1].patches]
    assert variant == pytest.approx([5.0, -5.0, 0.0])
    assert "base" in fig.axes[0].get_ylabel()
    with pytest.raises(InputError, match="baseline run 'nope' not found; runs: base, partial, variant"):
        ablation_deltas(df, "nope")


def test_recall_curves_one_line_per_run_over_shared_domains(df: pd.DataFrame) -> None:
    fig = recall_curves(df)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"base", "partial", "variant"}
    assert np.asarray(lines["base"].get_xdata()).tolist() == [10, 100, 1000]
    # biology is the only domain every run has: every point averages the same domain
    assert np.asarray(lines["base"].get_ydata()).tolist() == pytest.approx([30.0, 60.0, 80.0])
    assert "1 domain" in ax.get_title() and ax.get_xscale() == "log"
    one = recall_curves(df, domain="leetcode", ks=[10, 1000])
    assert "leetcode" in one.axes[0].get_title()
    assert [line.get_label() for line in one.axes[0].get_lines()] == ["base", "variant"]  # 'partial' lacks it
    with pytest.raises(InputError, match="R@5"):
        recall_curves(df, ks=[5])


def test_write_plots_saves_valid_png_and_pdf(df: pd.DataFrame, tmp_path: Path) -> None:
    files = write_plots(df, tmp_path / "report", baseline="variant")
    names = sorted(p.name for p in files)
    assert names == sorted(
        f"{stem}.{ext}"
        for stem in ("bars_sample_nDCG_at_10", "deltas_sample_nDCG_at_10", "recall_sample")
        for ext in ("png", "pdf")
    )
    for p in files:
        data = p.read_bytes()
        if p.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
        else:
            assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert not list((tmp_path / "report").glob(".*tmp"))  # atomic writes leave nothing behind
    # PDFs carry no creation date: the same results give byte-identical files
    again = write_plots(df, tmp_path / "again", baseline="variant")
    pdf = next(p for p in again if p.name == "bars_sample_nDCG_at_10.pdf")
    assert pdf.read_bytes() == (tmp_path / "report" / pdf.name).read_bytes()


def test_cli_writes_plots_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, {"a": VALUES["base"], "b": VALUES["variant"]})
    code, _, err = call_main(report_main, [str(tmp_path)], capsys)
    assert code == 0, err
    report = tmp_path / "report"
    for stem in ("bars_sample_nDCG_at_10", "deltas_sample_nDCG_at_10", "recall_sample"):
        assert (report / f"{stem}.png").is_file() and (report / f"{stem}.pdf").is_file()
