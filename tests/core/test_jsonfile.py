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
