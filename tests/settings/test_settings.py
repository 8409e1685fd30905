"""Every config in conf/ composes against its schema and becomes typed settings; typos and wrong types fail at
compose time, impossible values when the settings are built, each naming its key."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.settings import DenseSettings, EvaluateSettings
from rtriever_eval.settings.hydra import CONF_DIR, register_configs, to_settings
from rtriever_eval.settings.registry import benchmark

register_configs()


def _names(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _compose(*overrides: str):  # type: ignore[no-untyped-def]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("evaluate", overrides=list(overrides), return_hydra_config=False)


@pytest.mark.parametrize("model", _names("model"))
def test_every_model_config_composes(model: str) -> None:
    # Multi-stage models take their inputs from the command line and are named after them.
    required = {
        "fusion": (["model.inputs=[bm25,minilm]"], "fusion-rrf", "fusion"),
        "rerank": (["model.first_stage=bm25", "reranker=minilm"], "rerank-bm25", "rerank"),
        "run_file": (["model.path='runs/{domain}.trec'"], "run_file", "run_file"),
    }
    overrides, name, kind = required.get(model, ([], model, None))
    cfg = _compose(f"model={model}", *overrides)
    assert cfg.model.name == name
    assert cfg.model.kind == kind if kind else cfg.model.kind in ("bm25", "dense")
    settings = to_settings(cfg)
    assert isinstance(settings, EvaluateSettings) and settings.model.name == name


@pytest.mark.parametrize("model", ["fusion", "rerank"])
def test_multi_stage_models_refuse_missing_inputs(model: str) -> None:
    with pytest.raises(ConfigError, match=r"model\.(inputs|first_stage)"):
        to_settings(_compose(f"model={model}"))


@pytest.mark.parametrize("dataset", _names("dataset"))
def test_every_dataset_config_composes(dataset: str) -> None:
    overrides = [f"dataset={dataset}"] + (["dataset.path=/tmp/some-beir"] if dataset == "beir" else [])
    cfg = _compose(*overrides)
    assert cfg.dataset.name == dataset
    settings = to_settings(cfg).dataset
    bench = benchmark(settings.benchmark)
    assert bench.available(long_documents=settings.long_documents, path=settings.path)


@pytest.mark.parametrize("instructions", _names("instructions"))
def test_every_instruction_set_composes(instructions: str) -> None:
    assert _compose(f"instructions={instructions}").instructions.name == instructions


@pytest.mark.parametrize("experiment", _names("experiment"))
def test_every_experiment_composes(experiment: str) -> None:
    cfg = _compose(f"experiment={experiment}")
    assert cfg.experiment_name == experiment


def test_bright_is_pinned_and_long_mode_has_eight_domains() -> None:
    cfg = _compose("dataset=bright")
    assert len(cfg.dataset.revision) == 40
    assert len(benchmark("bright").available(long_documents=False)) == 12
    long = _compose("dataset=bright_long")
    assert long.dataset.long_documents is True
    domains = benchmark(long.dataset.benchmark).available(long_documents=True)
    assert len(domains) == 8 and "pony" in domains


def test_sample_dataset_path_points_into_the_package() -> None:
    cfg = _compose()
    assert (CONF_DIR.parent / "data" / "sample") == __import__("pathlib").Path(cfg.dataset.path)


@pytest.mark.parametrize("override", ["model.k3=1", "top_kk=5", "top_k=abc", "dataset.long_documents=maybe"])
def test_typos_and_wrong_types_fail_at_compose_time(override: str) -> None:
    with pytest.raises(ConfigCompositionException):
        _compose(override)


def test_precheck_lists_valid_keys() -> None:
    from rtriever_eval.cli.evaluate import precheck_overrides

    msg = precheck_overrides(["model=bm25", "model.kk1=3"])
    assert msg is not None and "Valid keys there: b, facts, flavour, k1, kind, name, query_chunk" in msg
    assert precheck_overrides(["model=bm25", "top_k=10"]) is None


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.dtype=float8", "model.dtype"),
        ("model.pooling=max", "model.pooling"),
        ("model.batch_size=0", "model.batch_size"),
        ("model.cpu_linear=mkl", "model.cpu_linear"),
        ("cache.mode=write", "cache.mode"),
        ("stage=index", "stage"),
    ],
)
def test_impossible_values_fail_when_the_settings_are_built(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        to_settings(_compose("model=minilm", override))
    assert info.value.field == key


def test_each_default_is_declared_once() -> None:
    """The YAML files repeat no schema default: a default changed in settings.py reaches every config."""
    import yaml

    evaluate = yaml.safe_load((CONF_DIR / "evaluate.yaml").read_text())
    assert set(evaluate) == {"defaults", "run_name"}
    assert DenseSettings(name="x", path="p").dtype == "float32"  # the one default, for configs that set none
    assert to_settings(_compose()).paths.cache_dir
