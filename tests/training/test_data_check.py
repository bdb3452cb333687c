"""``simplepose data check`` and dataset files: a broken copy of the nine-point dataset lists
every injected problem with its file and id; hostile files are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import custom_keypoints as upper9
import pytest
import yaml

from simplepose.cli import main as cli_main
from simplepose.training.data_check import check_dataset
from simplepose.training.dataset_file import load_dataset_file


@pytest.fixture(scope="module")
def dataset(coco_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return upper9.write_custom_dataset(coco_mini, tmp_path_factory.mktemp("upper9"))


def broken_copy(dataset: Path, out: Path) -> tuple[Path, list[str]]:
    """A copy with one problem of each kind injected; returns it and the expected messages."""
    data = yaml.safe_load(dataset.read_text())
    folder = dataset.parent
    for split in ("train", "val"):
        data[split] = {k: str(folder / v) for k, v in data[split].items()}
    ann_file = folder / data["train"]["annotations"]
    coco = json.loads(Path(ann_file).read_text())
    anns = [a for a in coco["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]]
    a0, a1, a2, a3 = anns[:4]
    a0["keypoints"] = a0["keypoints"][:-3]  # 8 keypoints instead of 9
    labelled = next(j for j in range(9) if a1["keypoints"][3 * j + 2] > 0)
    a1["keypoints"][3 * labelled] = 1e6  # far outside its image
    a2["bbox"] = [10, 10, 0, 25]  # zero area
    a3["id"] = a0["id"]  # duplicate id
    coco["images"][1]["file_name"] = "gone.jpg"  # missing image
    coco["images"].append({**coco["images"][2], "id": 999999, "file_name": "../../etc/passwd"})
    bad_ann = out / "train.json"
    bad_ann.write_text(json.dumps(coco))
    data["train"]["annotations"] = str(bad_ann)
    pairs = data["keypoints"]["flip_pairs"]
    pairs[0] = ["left_wrist_pt", "right_elbow_pt"]  # contradicts the names
    path = out / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    expected = [
        f"annotation {a0['id']}: keypoints has 24 values, expected 27",
        f"annotation {a1['id']}: {upper9.NAMES[labelled]} at (1e+06,",
        f"annotation {a2['id']}: box [10, 10, 0, 25] has zero area",
        f"annotation {a0['id']}: duplicate annotation id",
        f"image {coco['images'][1]['id']}: image file",
        "image 999999: file_name '../../etc/passwd' leaves the image folder",
        "keypoints: flip pairs contradict the names: left_wrist_pt must swap with right_wrist_pt",
    ]
    return path, expected


def test_broken_copy_lists_every_injected_problem(dataset: Path, tmp_path: Path, capsys) -> None:
    path, expected = broken_copy(dataset, tmp_path)
    assert cli_main(["data", "check", str(path), "--json", str(tmp_path / "r.json")]) == 1
    out = capsys.readouterr().out
    for message in expected:
        assert message in out, (message, out)
    assert f"{tmp_path / 'train.json'}: annotation" in out  # each problem names its file
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["total_problems"] == len(report["problems"]) >= len(expected)


def test_train_refuses_a_dataset_with_problems(dataset: Path, tmp_path: Path, capsys) -> None:
    path, _ = broken_copy(dataset, tmp_path)
    argv = ["train", "--config", "res18_128x96", "--dataset", str(path)]
    assert cli_main([*argv, "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "problems; fix them first" in err and "simplepose data check" in err
    assert not (tmp_path / "run").exists()


def test_keypoint_problems_are_listed_one_by_one(dataset: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(dataset.read_text())
    kps = data["keypoints"]
    kps["sigmas"] = kps["sigmas"][:-1]
    kps["skeleton"] = [[kps["names"].index(a), kps["names"].index(b)] for a, b in kps["skeleton"]]
    kps["names"][0] = "crown_top"  # the annotation files' category says "crown"
    (tmp_path / "images").symlink_to(dataset.parent / "images")
    (tmp_path / "annotations").symlink_to(dataset.parent / "annotations")
    (tmp_path / "d.yaml").write_text(yaml.safe_dump(data))
    report = check_dataset(tmp_path / "d.yaml")
    messages = [p.message for p in report.problems if p.where == "keypoints"]
    assert any("8 OKS sigmas for 9 keypoints" in m for m in messages)
    # the annotation files' category lists other names than the dataset file
    assert any("contradict the dataset file's names" in p.message for p in report.problems)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
        ("name: x\ntrain: {annotations: a.json, images: i}\n", "needs a 'keypoints' section"),
        ("keypoints: coco17\nextra: 1\n", "unknown keys"),
        ("keypoints: coco17\n", "names no split"),
        ("keypoints: coco17\ntrain: {annotations: a.json}\n", "exactly 'annotations' and"),
        ("keypoints: {names: [a]}\ntrain: {annotations: a, images: b}\n", "missing"),
        ("x: " + "y" * (1 << 20) + "\n", "at most"),
        ("keypoints: [1, 2\n", "not valid YAML"),
    ],
)
def test_hostile_dataset_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_dataset_file(path)
    report = check_dataset(path)
    assert not report.ok and message.split()[0] in str(report.problems[0])


def test_hostile_annotation_files_are_problems(dataset: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(dataset.read_text())
    data["root"] = str(dataset.parent)
    cases = {
        "deep.json": '{"images": ' + "[" * 100000 + "]" * 100000 + "}",
        "huge_int.json": '{"images": [' + "9" * 5000 + "]}",
        "huge_array.json": json.dumps(
            {
                "images": [{"id": 1, "file_name": "x.jpg", "width": 10, "height": 10}],
                "annotations": [
                    {
                        "id": 1,
                        "image_id": 1,
                        "category_id": 3,
                        "bbox": [0, 0, 5, 5],
                        "keypoints": [0] * 1_000_000,
                    }
                ],
                "categories": [{"id": 3, "name": "worker"}],
            }
        ),  # fmt: skip
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        data["train"]["annotations"] = str(tmp_path / name)
        (tmp_path / "d.yaml").write_text(yaml.safe_dump(data))
        report = check_dataset(tmp_path / "d.yaml")
        assert not report.ok, name
        text = " ".join(str(p) for p in report.problems)
        assert {"deep.json": "nested too deeply", "huge_int.json": "not valid JSON",
                "huge_array.json": "keypoints has 1000000 values, expected 27"}[name] in text  # fmt: skip
