from pathlib import Path

from simplepose.hub.cache import CACHE_DIR_ENV, DEFAULT_CACHE_DIR, cache_dir


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    assert cache_dir() == DEFAULT_CACHE_DIR
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert cache_dir("~/x") == Path.home() / "x"
