"""`rtriever-cache list | verify | prune`, called in-process through its main()."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtriever_eval.cache import CacheKey, EmbeddingCache
from rtriever_eval.cli.cache import main as cache_main
from tests.cache.fakes import KEY, TEXTS, CountingEncoder

# ------------------------------------------------------------------------------------------------ CLI


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        cache_main(list(argv))
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_cache_cli_list_verify_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = EmbeddingCache(tmp_path, "readwrite", shard_size=5)
    cache.get(KEY, TEXTS, CountingEncoder(), info={"model": "fake", "side": "documents", "label": "s/d"})
    partial = CacheKey({"test": "partial"})
    cache.fill(partial, TEXTS, CountingEncoder(), info={"model": "fake", "side": "queries"}, shards=[1])
    d = str(tmp_path)
    code, out, _ = _cli(capsys, "list", "--cache-dir", d)
    assert code == 0 and "fake" in out and "5/5" in out and "1/5 (incomplete)" in out and "2 entries" in out
    code, out, _ = _cli(capsys, "verify", "--cache-dir", d)
    assert code == 0 and "0 with problems" in out
    # damage one shard: verify names it and exits 1; --repair forgets it so a run re-encodes it
    shard = tmp_path / "embeddings" / KEY.digest / "shard-00002.npy"
    raw = bytearray(shard.read_bytes())
    raw[-1] ^= 0xFF
    shard.write_bytes(bytes(raw))
    code, out, _ = _cli(capsys, "verify", "--cache-dir", d, KEY.digest[:8])
    assert code == 1 and "shard 2 (shard-00002.npy)" in out and "1 with problems" in out
    code, out, _ = _cli(capsys, "verify", "--cache-dir", d, "--repair", KEY.digest[:8])
    assert code == 1 and cache.missing(KEY, len(TEXTS)) == ([2], 5)
    code, _, err = _cli(capsys, "prune", "--cache-dir", d)
    assert code == 2 and "needs a filter" in err
    code, out, _ = _cli(capsys, "prune", "--cache-dir", d, "--incomplete", "--dry-run")
    assert code == 0 and out.count("would remove") == 2 and len(cache.entries()) == 2
    code, out, _ = _cli(capsys, "prune", "--cache-dir", d, "--incomplete", "--older-than-days", "1")
    assert code == 0 and "0 of 2 entries" in out  # both used just now
    code, out, _ = _cli(capsys, "prune", "--cache-dir", d, "--older-than-days", "0")
    assert code == 0 and out.count("removed") == 2 and cache.entries() == []
    code, _, err = _cli(capsys, "list", "--cache-dir", str(tmp_path / "nope"))
    assert code == 2 and "no such cache folder" in err
