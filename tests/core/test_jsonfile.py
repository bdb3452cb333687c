import pytest

from simplepose.jsonfile import read_json


def test_read_json_checks_file_syntax_and_type(tmp_path):
    good = tmp_path / "good.json"
    good.write_text('{"a": [1, 2]}')
    assert read_json(good, "thing", dict) == {"a": [1, 2]}
    with pytest.raises(FileNotFoundError, match="thing not found"):
        read_json(tmp_path / "missing.json", "thing")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_json(bad, "thing")
    with pytest.raises(ValueError, match="expected a JSON list"):
        read_json(good, "detections", list)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"format": "mindir"}', "no 'config' section"),
        ('{"config": [1]}', "not a valid model.json"),
        ('{"config": {"model": 5}}', "not a valid model.json"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"a": ' + "9" * 5000 + "}", "not valid JSON"),
    ],
    ids=["top_list", "no_config", "config_list", "model_int", "deep", "digits"],
)
def test_hostile_model_json_is_a_clear_error_naming_the_file(tmp_path, text, reason):
    from simplepose.config.model_info import MODEL_JSON, ModelInfo

    (tmp_path / MODEL_JSON).write_text(text)
    with pytest.raises(ValueError, match=reason) as exc:
        ModelInfo.load(tmp_path)
    assert str(tmp_path / MODEL_JSON) in str(exc.value)
