"""A model folder's identity is its content, memoised by path, size and mtime."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rtriever_eval.cache import FingerprintMemo, folder_fingerprint
from rtriever_eval.cache import identity as identity_mod
from rtriever_eval.testing import minilm_path


def test_folder_fingerprint_is_content_not_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = minilm_path()
    a = tmp_path / "a"
    shutil.copytree(src, a)
    memo = FingerprintMemo(tmp_path / "memo", writable=True)
    (tmp_path / "memo").mkdir()
    assert folder_fingerprint(a, memo) == folder_fingerprint(src, memo)
    (a / "README.md").write_text("docs do not change vectors")
    assert folder_fingerprint(a, memo) == folder_fingerprint(src, memo)
    tok = json.loads((a / "tokenizer_config.json").read_text())
    tok["do_lower_case"] = not tok.get("do_lower_case", True)
    (a / "tokenizer_config.json").write_text(json.dumps(tok))
    assert folder_fingerprint(a, memo) != folder_fingerprint(src, memo)
    memo.save()
    # memoised by (path, size, mtime): a second memo reads no file again
    reads: list[Path] = []
    real = identity_mod.sha256_file

    def counting(path: Path, *args: int) -> str:
        reads.append(path)
        return real(path, *args)

    monkeypatch.setattr(identity_mod, "sha256_file", counting)
    folder_fingerprint(a, FingerprintMemo(tmp_path / "memo", writable=False))
    assert reads == []
