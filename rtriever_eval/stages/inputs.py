"""A saved run of the same experiment and dataset, read as a later stage's input: its summary (fingerprint) and
its ranking per domain, with the checks that it exists and was computed on the same data.

Reads through results/contract.py; knows nothing of how the input was computed or how the stage combines it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.base.types import DomainData
from rtriever_eval.results.contract import SUMMARY_FILE, Summary, domain_folder, read_domain_run, read_summary
from rtriever_eval.results.fingerprint import data_sha256
from rtriever_eval.retrievers.search import Ranked


@dataclass(frozen=True)
class RunContext:
    """Where a stage finds its inputs: the results folder, the experiment and the dataset of this run."""

    results_dir: str
    experiment: str
    dataset: str

    def folder(self, run: str, domain: str) -> Path:
        return domain_folder(self.results_dir, self.experiment, run, self.dataset, domain)


def input_summary(context: RunContext, run: str, domain: str, *, role: str) -> Summary:
    """The summary of input `run` for `domain`; ConfigError saying how to make it when it is absent."""
    path = context.folder(run, domain) / SUMMARY_FILE
    if not path.is_file():
        raise ConfigError(
            f"{role} run {run!r} has no results for domain {domain!r} of dataset {context.dataset!r} in experiment "
            f"{context.experiment!r} ({path} is missing): run it first with the same experiment and dataset",
            path=path,
            field="model",
        )
    return read_summary(path)


def input_digest(summary: Summary) -> str:
    """The fingerprint digest of an input's result (changes whenever the input is recomputed differently)."""
    fingerprint = summary.fingerprint or {}
    return str(fingerprint.get("digest", "none"))


def input_ranking(
    context: RunContext, run: str, data: DomainData, *, role: str, depth: int, digest: str | None = None
) -> dict[str, Ranked]:
    """Input `run`'s ranking of every query of `data`, cut to its first `depth` documents (trec_eval's order),
    after checking that it was computed on this evaluation: the same corpus, query ids, exclusions and
    judgments (the query texts may differ: a run on rewritten queries fuses with one on the originals), that its
    run.trec is the one its summary recorded, and (``digest``) that it is the result this run was planned on."""
    summary = input_summary(context, run, data.name, role=role)
    folder = context.folder(run, data.name)
    if digest is not None and input_digest(summary) != digest:
        raise ConfigError(
            f"{role} run {run!r} was recomputed for domain {data.name!r} while this run was using it (fingerprint "
            f"{digest[:12]}… when planned, {input_digest(summary)[:12]}… now): run this stage again",
            path=folder,
            field="model",
        )
    theirs = (summary.fingerprint or {}).get("evaluation_sha256")
    ours = data_sha256(data, query_texts=False)
    if theirs != ours:
        raise ConfigError(
            f"{role} run {run!r} was computed on other data for domain {data.name!r} than this run evaluates "
            f"(evaluation sha256 {str(theirs)[:12]}… vs {ours[:12]}…): recompute it, or evaluate on its data",
            path=folder,
            field="model",
        )
    from rtriever_eval.base.trec import ranked

    run_map = read_domain_run(folder, summary)
    return {q.id: ranked(run_map.get(q.id, {}))[:depth] for q in data.queries}
