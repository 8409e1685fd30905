"""Paired significance tests, effect sizes, Holm correction and bootstrap intervals on per-query metric values.

Pure functions on numpy/pandas, seeded and deterministic; knows nothing about files, runs on disk or table layout.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from rtriever_eval.base.errors import InputError

__all__ = [
    "DEFAULT_N_PERMUTATIONS",
    "DEFAULT_N_RESAMPLES",
    "EXACT_MAX_N",
    "TESTS",
    "PairedComparison",
    "TestName",
    "align_pairs",
    "bootstrap_ci",
    "bootstrap_domain_and_macro_ci",
    "compare_domains",
    "compare_pair",
    "holm",
    "paired_ttest",
    "randomization_test",
]

log = logging.getLogger(__name__)

TestName = Literal["randomization", "ttest"]
TESTS: tuple[str, ...] = ("randomization", "ttest")
DEFAULT_N_PERMUTATIONS = 10_000
DEFAULT_N_RESAMPLES = 10_000
EXACT_MAX_N = 16
# Differences this small are float noise (the same ranking scored twice); they count as ties and as zero.
TIE_EPS = 1e-12
# Budget of random draws held in memory at once (rows x queries) when sampling sign flips or resamples.
_CHUNK_CELLS = 2_000_000


def _diffs(diffs: Sequence[float] | np.ndarray) -> np.ndarray:
    d = np.asarray(diffs, dtype=np.float64).ravel()
    if not np.all(np.isfinite(d)):
        raise ValueError("per-query differences must be finite numbers")
    return np.where(np.abs(d) <= TIE_EPS, 0.0, d)


def randomization_test(
    diffs: Sequence[float] | np.ndarray,
    *,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    seed: int = 0,
    exact_max_n: int = EXACT_MAX_N,
) -> float:
    """Two-sided paired randomization (sign-flip) test of mean(diffs) = 0.

    Under the null each per-query difference is as likely positive as negative, so the statistic |sum(s * d)|
    is compared over sign vectors s. With n <= `exact_max_n` all 2^n sign vectors are enumerated and the p-value is
    exact (the share of vectors at least as extreme as the observed one, the identity included); otherwise
    `n_permutations` random vectors are drawn from a generator seeded with `seed` and p = (1 + hits) / (1 + draws),
    which never reports 0. An empty input or all-zero differences give p = 1.
    """
    d = _diffs(diffs)
    n = d.size
    observed = abs(float(d.sum()))
    if n == 0 or observed == 0.0:
        return 1.0
    # Sums of the same numbers in another order differ in the last bits: compare with a relative slack.
    threshold = observed - 1e-9 * max(observed, float(np.abs(d).sum()))
    if n <= exact_max_n:
        patterns = np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64)
        signs = 1.0 - 2.0 * (patterns & 1)
        hits = int(np.count_nonzero(np.abs(signs @ d) >= threshold))
        return hits / float(2**n)
    if n_permutations < 1:
        raise ValueError("n_permutations must be at least 1")
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // n)
    hits, done = 0, 0
    while done < n_permutations:
        size = min(chunk, n_permutations - done)
        signs = 1.0 - 2.0 * rng.integers(0, 2, size=(size, n))
        hits += int(np.count_nonzero(np.abs(signs @ d) >= threshold))
        done += size
    return (1 + hits) / (1 + n_permutations)


def paired_ttest(run: Sequence[float] | np.ndarray, base: Sequence[float] | np.ndarray) -> float:
    """Two-sided paired t-test p-value (scipy.stats.ttest_rel).

    Where t is undefined: 1.0 for n < 2 or no difference; 0.0 (the limit) for a constant non-zero difference.
    """
    a = np.asarray(run, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    d = _diffs(a - b)
    if d.size < 2 or not np.any(d):
        return 1.0
    if float(d.std(ddof=1)) <= TIE_EPS:
        return 0.0
    p = float(stats.ttest_rel(a, b).pvalue)
    return 1.0 if math.isnan(p) else p


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the input order; NaN entries stay NaN and are not counted in m.

    The k-th smallest of m p-values becomes max over j <= k of min(1, (m - j + 1) * p_(j)): reject where the
    adjusted value is <= alpha, which controls the family-wise error rate at alpha.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


@dataclass(frozen=True)
class PairedComparison:
    """One run against the baseline on one domain's queries (values on the metric's own 0-1 scale)."""

    n: int
    mean_run: float
    mean_base: float
    diff: float
    d_z: float
    wins: int
    ties: int
    losses: int
    p_value: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _cohen_dz(d: np.ndarray) -> float:
    """Mean difference over the standard deviation of differences (ddof=1); 0 for no change, ±inf for a constant one."""
    if d.size < 2:
        return math.nan
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd <= TIE_EPS:  # constant differences (up to float noise)
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / sd


def align_pairs(run: pd.Series, base: pd.Series, *, what: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Per-query values of a run and of the baseline, paired by qid (the index) in the baseline's order.

    Both must hold exactly the same qids: a per-query file lists every judged query, so a difference means the two
    runs were evaluated on different data, and a paired test would be meaningless.
    """
    where = f"{what}: " if what else ""
    run_ids = pd.Index(run.index.astype(str))
    base_ids = pd.Index(base.index.astype(str))
    for name, ids in (("run", run_ids), ("baseline", base_ids)):
        if ids.has_duplicates:
            dup = ids[ids.duplicated()].unique()[:5]
            raise InputError(f"{where}duplicate qids in the {name}'s per-query values: {', '.join(dup)}")
    only_run = run_ids.difference(base_ids)
    only_base = base_ids.difference(run_ids)
    if len(only_run) or len(only_base):

        def few(ids: pd.Index) -> str:
            shown = ", ".join(map(str, ids[:5]))
            return f"{len(ids)} ({shown}{', …' if len(ids) > 5 else ''})"

        raise InputError(
            f"{where}the run and the baseline were evaluated on different queries "
            f"(only in the run: {few(only_run)}; only in the baseline: {few(only_base)}); "
            "a paired test needs the same queries on both sides"
        )
    r = pd.Series(run.to_numpy(dtype=np.float64), index=run_ids)
    b = pd.Series(base.to_numpy(dtype=np.float64), index=base_ids)
    return r.reindex(base_ids).to_numpy(), b.to_numpy()


def compare_pair(
    run: Sequence[float] | np.ndarray,
    base: Sequence[float] | np.ndarray,
    *,
    test: TestName = "randomization",
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    seed: int = 0,
) -> PairedComparison:
    """Effect sizes, win/tie/loss counts and the chosen test's two-sided p-value for paired arrays."""
    a = np.asarray(run, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("paired arrays must have the same length")
    d = _diffs(a - b)
    if test == "randomization":
        p = randomization_test(d, n_permutations=n_permutations, seed=seed)
    elif test == "ttest":
        p = paired_ttest(a, b)
    else:
        raise ValueError(f"unknown test {test!r}; choose one of {', '.join(TESTS)}")
    n = int(d.size)
    return PairedComparison(
        n=n,
        mean_run=float(a.mean()) if n else math.nan,
        mean_base=float(b.mean()) if n else math.nan,
        diff=float(d.mean()) if n else math.nan,
        d_z=_cohen_dz(d),
        wins=int(np.count_nonzero(d > 0)),
        ties=int(np.count_nonzero(d == 0)),
        losses=int(np.count_nonzero(d < 0)),
        p_value=p,
    )


def compare_domains(
    run: Mapping[str, pd.Series],
    base: Mapping[str, pd.Series],
    *,
    test: TestName = "randomization",
    alpha: float = 0.05,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    seed: int = 0,
) -> pd.DataFrame:
    """One run against the baseline, domain by domain, Holm-corrected across the domains both have.

    `run` and `base` map a domain to its per-query values (index = qid). The family for the correction is this
    one comparison (one run vs the baseline over its domains). Returns one row per shared domain, in `base`'s
    order: domain, n, mean_run, mean_base, diff, d_z, wins, ties, losses, p_value, p_holm, significant
    (p_holm <= alpha).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must lie strictly between 0 and 1")
    rows = []
    for domain, base_values in base.items():
        if domain not in run:
            continue
        a, b = align_pairs(run[domain], base_values, what=f"domain {domain!r}")
        res = compare_pair(a, b, test=test, n_permutations=n_permutations, seed=seed)
        rows.append({"domain": domain, **res.as_dict()})
    columns = ["domain", *PairedComparison.__dataclass_fields__, "p_holm", "significant"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    frame["p_holm"] = holm(frame["p_value"].to_numpy())
    frame["significant"] = frame["p_holm"] <= alpha
    return frame[columns]


def _domain_rng(seed: int, domain: str) -> np.random.Generator:
    # One stream per domain, so a domain's interval does not depend on which other domains are present.
    return np.random.default_rng([seed, zlib.crc32(domain.encode("utf-8"))])


def _bootstrap_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    n = values.size
    out = np.empty(n_resamples)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    done = 0
    while done < n_resamples:
        size = min(chunk, n_resamples - done)
        idx = rng.integers(0, n, size=(size, n))
        out[done : done + size] = values[idx].mean(axis=1)
        done += size
    return out


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(samples, [tail, 100.0 - tail])
    return float(lo), float(hi)


def _check_bootstrap_args(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must lie strictly between 0 and 1")


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean: resample the queries with replacement `n_resamples` times."""
    _check_bootstrap_args(n_resamples, confidence)
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return math.nan, math.nan
    return _percentiles(_bootstrap_means(v, n_resamples, np.random.default_rng(seed)), confidence)


def bootstrap_domain_and_macro_ci(
    per_domain: Mapping[str, Sequence[float] | np.ndarray | pd.Series],
    *,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, tuple[float, float]], tuple[float, float]]:
    """Percentile intervals for each domain's mean and for the macro average over the domains.

    Queries are resampled within each domain independently (a stream per domain, seeded from `seed` and the
    domain name); the r-th macro replicate is the average of the r-th domain replicates, so the macro interval
    reflects every domain's sampling noise at once. Returns ({domain: (lo, hi)}, (macro_lo, macro_hi)); the macro
    interval is NaN when there are no domains or a domain has no values.
    """
    _check_bootstrap_args(n_resamples, confidence)
    intervals: dict[str, tuple[float, float]] = {}
    replicates: list[np.ndarray] = []
    for domain, values in per_domain.items():
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size == 0:
            intervals[domain] = (math.nan, math.nan)
            continue
        means = _bootstrap_means(v, n_resamples, _domain_rng(seed, domain))
        intervals[domain] = _percentiles(means, confidence)
        replicates.append(means)
    if not replicates or len(replicates) != len(per_domain):
        return intervals, (math.nan, math.nan)
    return intervals, _percentiles(np.mean(replicates, axis=0), confidence)
