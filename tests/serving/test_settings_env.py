import pytest
from pydantic import ValidationError

from simplepose.hub.cache import CACHE_DIR_ENV
from simplepose.serving.settings import ENV_PREFIX, Settings


def test_service_and_weights_registry_read_the_same_cache_variable(monkeypatch, tmp_path):
    assert f"{ENV_PREFIX}CACHE_DIR" == CACHE_DIR_ENV
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    assert Settings().cache_dir == tmp_path


@pytest.mark.parametrize(
    "field, value",
    [("detector_input_size", "320"), ("detector_mean", "1,2"), ("detector_std", "a,b,c")],
)
def test_detector_preprocessing_is_checked_when_read(monkeypatch, field, value) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}{field.upper()}", value)
    with pytest.raises(ValidationError, match=field):
        Settings()
    monkeypatch.setenv(f"{ENV_PREFIX}{field.upper()}", "320x256" if "size" in field else "1,2,3")
    assert getattr(Settings(), field) is not None
