"""Paired tests, Holm, effect sizes and bootstrap intervals against numbers worked out by hand.

Every expected value below is derived in the comment beside it, not read back from the code.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rtriever_eval.base.errors import InputError
from rtriever_eval.reporting.significance import (
    align_pairs,
    bootstrap_ci,
    bootstrap_domain_and_macro_ci,
    compare_domains,
    compare_pair,
    holm,
    paired_ttest,
    randomization_test,
)


def test_randomization_exact_four_queries_by_hand() -> None:
    # d = (0.4, 0.3, 0.2, -0.1), observed |sum| = 0.8. Of the 2^4 = 16 sign patterns, |sum| >= 0.8 holds for
    # (+,+,+,+) -> 1.0 and (+,+,+,-) -> 0.8 and their two mirror images; every other pattern flips at least 0.2
    # of mass and sums to at most 0.6. So p = 4/16.
    assert randomization_test([0.4, 0.3, 0.2, -0.1]) == 0.25
    # All differences of one sign: only the observed pattern and its mirror are as extreme: p = 2/16.
    assert randomization_test([0.1, 0.2, 0.3, 0.4]) == 0.125
    # One non-zero difference: every pattern gives |sum| = 0.3, p = 1.
    assert randomization_test([0.3, 0.0, 0.0, 0.0]) == 1.0
    # No difference at all (or float noise below 1e-12): p = 1.
    assert randomization_test([0.0, 0.0, 0.0]) == 1.0
    assert randomization_test([1e-15, -1e-14]) == 1.0
    assert randomization_test([]) == 1.0


def test_randomization_exact_agrees_with_brute_force() -> None:
    d = np.array([0.31, -0.12, 0.05, 0.4, -0.22, 0.18, 0.09])
    observed = abs(d.sum())
    hits = sum(abs(np.dot(s, d)) >= observed - 1e-12 for s in itertools.product((1, -1), repeat=d.size))
    assert randomization_test(d) == hits / 2**d.size


def test_randomization_sampled_is_seeded_close_to_exact_and_never_zero() -> None:
    rng = np.random.default_rng(7)
    d = rng.normal(0.05, 0.2, size=12)
    exact = randomization_test(d)
    sampled = randomization_test(d, exact_max_n=0, n_permutations=10_000, seed=3)
    assert sampled == randomization_test(d, exact_max_n=0, n_permutations=10_000, seed=3)
    assert sampled != randomization_test(d, exact_max_n=0, n_permutations=10_000, seed=4)
    assert abs(sampled - exact) < 0.02  # Monte Carlo standard error <= 0.005 at 10,000 draws
    # A huge, consistent effect on 40 queries: no random flip reaches it, yet p = (1 + 0) / (1 + 999), not 0.
    assert randomization_test(np.full(40, 0.3), n_permutations=999) == pytest.approx(1 / 1000)


def test_ttest_matches_the_hand_formula() -> None:
    run = [0.5, 0.6, 0.9, 0.4]
    base = [0.3, 0.5, 0.6, 0.4]
    # d = (0.2, 0.1, 0.3, 0.0): mean 0.15, sample sd sqrt(0.05 / 3), t = mean / (sd / sqrt(4)) = 2.3238, df = 3.
    mean, sd = 0.15, math.sqrt(0.05 / 3)
    t = mean / (sd / 2)
    assert t == pytest.approx(2.323790, abs=1e-6)
    p_hand = 2 * stats.t.sf(t, df=3)
    assert paired_ttest(run, base) == pytest.approx(p_hand, rel=1e-9)
    assert p_hand == pytest.approx(0.1028, abs=1e-4)
    res = compare_pair(run, base, test="ttest")
    assert (res.wins, res.ties, res.losses) == (3, 1, 0)
    assert res.diff == pytest.approx(0.15)
    assert res.d_z == pytest.approx(mean / sd) and res.d_z == pytest.approx(1.161895, abs=1e-6)
    assert res.mean_run == pytest.approx(0.6) and res.mean_base == pytest.approx(0.45)
    # Undefined cases count as no evidence.
    assert paired_ttest([0.2, 0.3], [0.2, 0.3]) == 1.0
    assert paired_ttest([0.2], [0.1]) == 1.0


def test_holm_by_hand() -> None:
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max keeps 0.06 for the last.
    assert holm([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Capped at 1; NaN stays NaN and does not count in m (m = 2 here).
    out = holm([0.5, np.nan, 0.6])
    assert out[0] == 1.0 and math.isnan(out[1]) and out[2] == 1.0
    assert holm([0.02, np.nan]).tolist()[0] == pytest.approx(0.02)
    assert holm([]).size == 0


def test_effect_sizes_for_degenerate_differences() -> None:
    same = compare_pair([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert (same.diff, same.d_z, same.ties, same.p_value) == (0.0, 0.0, 3, 1.0)
    shifted = compare_pair([0.2, 0.3, 0.4], [0.1, 0.2, 0.3])  # a constant +0.1: sd 0
    assert shifted.d_z == math.inf and shifted.wins == 3
    assert paired_ttest([0.2, 0.3, 0.4], [0.1, 0.2, 0.3]) == 0.0  # t -> infinity: the limit p = 0
    with pytest.raises(ValueError, match="unknown test"):
        compare_pair([0.1], [0.2], test="wilcoxon")  # type: ignore[arg-type]


def test_alignment_by_qid_and_clear_error_on_different_queries() -> None:
    run = pd.Series([0.9, 0.1], index=["q2", "q1"])
    base = pd.Series([0.0, 0.5], index=["q1", "q2"])
    a, b = align_pairs(run, base)
    assert a.tolist() == [0.1, 0.9] and b.tolist() == [0.0, 0.5]
    with pytest.raises(InputError, match=r"biology.*different queries.*only in the run: 1 \(q3\).*baseline: 0"):
        align_pairs(pd.Series([0.1, 0.2, 0.3], index=["q1", "q2", "q3"]), base, what="biology")


def test_compare_domains_holm_across_domains() -> None:
    qids = [f"q{i}" for i in range(8)]
    base = {
        "biology": pd.Series(np.linspace(0.1, 0.5, 8), index=qids),
        "leetcode": pd.Series(np.linspace(0.2, 0.6, 8), index=qids),
    }
    run = {
        "biology": base["biology"] + 0.1,  # every query better: exact p = 2/256
        "leetcode": base["leetcode"].where(base["leetcode"].index != "q0", 0.9),  # one query changed: p = 1
        "extra": pd.Series([0.5], index=["x"]),  # not in the baseline: not tested
    }
    out = compare_domains(run, base)
    assert out["domain"].tolist() == ["biology", "leetcode"]
    assert out["p_value"].tolist() == pytest.approx([2 / 256, 1.0])
    assert out["p_holm"].tolist() == pytest.approx([2 * 2 / 256, 1.0])  # m = 2 domains
    assert out["significant"].tolist() == [True, False]
    assert out.loc[0, ["wins", "ties", "losses", "n"]].tolist() == [8, 0, 0, 8]


def test_bootstrap_constant_values_give_a_zero_width_interval() -> None:
    assert bootstrap_ci([0.42] * 10, n_resamples=500) == pytest.approx((0.42, 0.42))
    per_domain, macro = bootstrap_domain_and_macro_ci({"a": [0.2] * 5, "b": [0.6] * 7}, n_resamples=500)
    assert per_domain == {"a": pytest.approx((0.2, 0.2)), "b": pytest.approx((0.6, 0.6))}
    assert macro == pytest.approx((0.4, 0.4))


def test_bootstrap_converges_on_the_normal_interval() -> None:
    # 400 values, half 0 and half 1: mean 0.5, standard error 0.5 / sqrt(400) = 0.025, so about 0.5 ± 1.96 * 0.025.
    lo, hi = bootstrap_ci([0.0, 1.0] * 200, n_resamples=10_000, seed=1)
    assert lo == pytest.approx(0.5 - 1.96 * 0.025, abs=0.006)
    assert hi == pytest.approx(0.5 + 1.96 * 0.025, abs=0.006)


def test_bootstrap_is_seeded_and_macro_averages_domain_replicates() -> None:
    values = {"biology": np.linspace(0, 1, 9), "leetcode": [0.3] * 4}
    first = bootstrap_domain_and_macro_ci(values, n_resamples=2_000, seed=5)
    assert first == bootstrap_domain_and_macro_ci(values, n_resamples=2_000, seed=5)
    assert first != bootstrap_domain_and_macro_ci(values, n_resamples=2_000, seed=6)
    per_domain, macro = first
    # leetcode is constant, so each macro replicate is (biology replicate + 0.3) / 2, and percentiles follow.
    lo, hi = per_domain["biology"]
    assert macro == pytest.approx(((lo + 0.3) / 2, (hi + 0.3) / 2))
    # A domain's interval does not depend on which other domains are present.
    alone, _ = bootstrap_domain_and_macro_ci({"biology": values["biology"]}, n_resamples=2_000, seed=5)
    assert alone["biology"] == per_domain["biology"]
    # An empty domain makes the macro interval undefined rather than partial.
    _, partial = bootstrap_domain_and_macro_ci({"a": [0.1, 0.2], "b": []}, n_resamples=100)
    assert all(math.isnan(x) for x in partial)
