"""Pinned digests: a deployment pins what one trusted download saw (sha256sum format) and
every later download, in every pod, must match it; a broken pin file refuses downloads."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_weights_download import BODY, SHA, server  # noqa: F401 (the fixture)

from simplepose.hub import download, registry
from simplepose.hub.download import obtain
from simplepose.hub.pins import PINNED_DIGESTS_ENV, PinnedDigestsError, read_pins
from simplepose.hub.registry import KnownWeights, WeightsError

OTHER = "0" * 64


def _pin(tmp_path: Path, monkeypatch, text: str) -> Path:
    path = tmp_path / "sha256sums"
    path.write_text(text)
    monkeypatch.setenv(PINNED_DIGESTS_ENV, str(path))
    return path


def test_pins_read_sha256sum_output(tmp_path: Path) -> None:
    path = tmp_path / "sums"
    path.write_text(f"# pinned\n{SHA}  downloads/ok\n{OTHER} *b.zip\n\n")
    assert read_pins(path) == {"ok": SHA, "b.zip": OTHER}


@pytest.mark.parametrize(
    "text",
    [f"{SHA[:8]}  ok\n", f"{SHA.upper()}  ok\n", f"{SHA}  ok\n{OTHER}  ok\n", "ok " + SHA],
)
def test_malformed_or_contradicting_pins_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sums"
    path.write_text(text)
    with pytest.raises(PinnedDigestsError):
        read_pins(path)


def test_pin_file_must_be_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(PinnedDigestsError, match="not a regular file"):
        read_pins(tmp_path)
    with pytest.raises(PinnedDigestsError, match="cannot read"):
        read_pins(tmp_path / "absent")


def test_a_pinned_digest_refuses_another_first_download(tmp_path, server, monkeypatch) -> None:  # noqa: F811
    """Without a pin every pod's empty cache trusts its own first download; with one, a
    download that differs from what the cluster pinned is refused and not recorded."""
    entry = KnownWeights("t", f"{server}/ok", "", name_prefix=SHA[:8])
    _pin(tmp_path, monkeypatch, f"{OTHER}  ok\n")
    with pytest.raises(WeightsError, match="does not match"):
        obtain(entry, tmp_path / "pod1", progress=False)
    downloads = tmp_path / "pod1" / "downloads"
    assert not any(downloads.iterdir())  # no file, no .partial, no recorded digest
    _pin(tmp_path, monkeypatch, f"{SHA}  ok\n")
    path = obtain(entry, tmp_path / "pod2", progress=False)
    assert path.read_bytes() == BODY and not (path.parent / "ok.sha256").exists()


def test_a_pin_overrides_a_tampered_cache_record(tmp_path, server, monkeypatch) -> None:  # noqa: F811
    entry = KnownWeights("t", f"{server}/ok", "", name_prefix=SHA[:8])
    path = obtain(entry, tmp_path, progress=False)  # unpinned: records its own digest
    path.write_bytes(b"evil" + BODY)  # someone swaps the file and its record together
    (path.parent / "ok.sha256").write_text(download.sha256_file(path) + "\n")
    _pin(tmp_path, monkeypatch, f"{SHA}  ok\n")
    with pytest.raises(WeightsError, match="cached file was deleted"):
        obtain(entry, tmp_path, offline=True)


def test_a_pin_contradicting_the_registry_is_refused(tmp_path, monkeypatch) -> None:
    entry = registry.lookup("mmpose0-res50-256x192")
    _pin(tmp_path, monkeypatch, f"{OTHER}  {entry.filename}\n")
    with pytest.raises(WeightsError, match="differs from the registry"):
        download.expected_digest(entry)


def test_a_broken_pin_file_refuses_downloads(tmp_path, server, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv(PINNED_DIGESTS_ENV, str(tmp_path / "missing"))
    with pytest.raises(WeightsError, match="cannot read pinned digests"):
        obtain(KnownWeights("t", f"{server}/ok", "", name_prefix=SHA[:8]), tmp_path)
