import pytest
import torch

from sidrec_lib.files import atomic_path, load_tensors, save_tensors, write_text_atomic


def test_a_file_appears_whole_and_replaces_the_old_one(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old\n")
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no partial file left


def test_an_error_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as partial:
        partial.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_file_gets_the_permissions_of_a_plain_write(tmp_path):
    (tmp_path / "plain.txt").write_text("x")
    write_text_atomic(tmp_path / "atomic.txt", "x")
    assert (tmp_path / "atomic.txt").stat().st_mode == (tmp_path / "plain.txt").stat().st_mode


def test_concurrent_writers_get_their_own_partial_files(tmp_path):
    target = tmp_path / "shared.txt"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second and first.parent == second.parent == tmp_path
        first.write_text("a")
        second.write_text("b")
    assert target.read_text() == "a"  # the last writer to finish wins; neither saw the other


def test_tensors_round_trip_and_a_wrong_or_missing_file_is_named(tmp_path):
    weights = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    save_tensors(tmp_path / "m", weights, "m.safetensors", {"format": "x.m", "version": 2, "n": 3}, "m.json")
    loaded, description = load_tensors(tmp_path / "m", "m.safetensors", "m.json", "x.m", 2)
    assert torch.equal(loaded["w"], weights["w"]) and description["n"] == 3
    with pytest.raises(ValueError, match=r"not a x\.m v3 file \(format='x\.m', version=2\)"):
        load_tensors(tmp_path / "m", "m.safetensors", "m.json", "x.m", 3)
    (tmp_path / "m" / "m.safetensors").unlink()
    with pytest.raises(ValueError, match="m.safetensors is missing"):
        load_tensors(tmp_path / "m", "m.safetensors", "m.json", "x.m", 2)
