from simplepose.hub.cache import CACHE_DIR_ENV
from simplepose.serving.settings import ENV_PREFIX, Settings


def test_service_and_weights_registry_read_the_same_cache_variable(monkeypatch, tmp_path):
    assert f"{ENV_PREFIX}CACHE_DIR" == CACHE_DIR_ENV
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    assert Settings().cache_dir == tmp_path
