"""Weights that are not a file, or not torch's: a symlink loop, a FIFO, a device, random bytes
and a damaged archive each get one line naming what they are (never "does not exist", never
"a pickle" for bytes that are none, never a traceback), through ``register`` and the API."""

from __future__ import annotations

import os
import zipfile

import pytest
import torch

import pcbench

MODELS = """[models.weighted-cnn]
arch = "pcbench.models.digits:digits_cnn"
num_classes = 10
dataset = "digits"
input_size = 32
mean = [0.5, 0.5, 0.5]
std = [0.5, 0.5, 0.5]
weights = "{weights}"
"""


def make(kind, tmp_path):
    """A weights path of ``kind`` and the words the error must use for it."""
    path = tmp_path / f"w-{kind}.pt"
    if kind == "symlink loop":
        os.symlink(tmp_path / "w-other.pt", path)
        os.symlink(path, tmp_path / "w-other.pt")
        return path, "is a symlink loop"
    if kind == "fifo":
        os.mkfifo(path)
        return path, "is a named pipe (FIFO)"
    if kind == "device":
        return "/dev/zero", "is a device"
    if kind == "directory":
        path.mkdir()
        return path, "is a directory"
    if kind == "random bytes":
        path.write_bytes(bytes([0x13, 0x37]) + bytes(range(256)) * 4)
        return path, "it is not a file written by torch.save (neither its archive nor a pickle)"
    if kind == "damaged archive":
        torch.save({"w": torch.zeros(3)}, path)
        path.write_bytes(path.read_bytes()[:100])
        assert zipfile.is_zipfile(path) is False
        return path, "it is a damaged or truncated torch.save archive"
    raise AssertionError(kind)


KINDS = ["symlink loop", "fifo", "device", "directory", "random bytes", "damaged archive"]


@pytest.mark.parametrize("kind", KINDS)
def test_register_names_what_the_weights_are(kind, tmp_path, fresh_home, run_main):
    weights, words = make(kind, tmp_path)
    models = tmp_path / "models.toml"
    models.write_text(MODELS.format(weights=weights))
    status, err = run_main(["register", str(models)])
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert words in lines[0] and "does not exist" not in lines[0] and "Traceback" not in err
    assert "weights_only=False" not in err and "unsafe" not in err.lower()


@pytest.mark.parametrize("kind", KINDS)
def test_load_model_names_what_the_weights_are(kind, tmp_path):
    weights, words = make(kind, tmp_path)
    with pytest.raises(pcbench.PcbenchError) as refused:
        pcbench.load_model("digits-cnn", weights=weights)
    assert words in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("kind", ["code", "truncated", "random bytes"])
def test_a_damaged_training_checkpoint_is_one_line_without_unsafe_advice(kind, tmp_path):
    import argparse

    from pcbench.models.checkpoints import load_checkpoint, save_checkpoint

    path = tmp_path / "checkpoint.pt"
    if kind == "code":
        torch.save({"epoch": 1, "args": argparse.Namespace(lr=0.1)}, path)  # a pickle that asks for a class
        words = "it asks for argparse.Namespace, which is code, not tensor data"
    elif kind == "truncated":
        save_checkpoint(path, {"epoch": 1, "w": torch.zeros(100)})
        path.write_bytes(path.read_bytes()[:200])
        words = "it is a damaged or truncated torch.save archive"
    else:
        path.write_bytes(bytes([7, 7]) + bytes(range(256)))
        words = "it is not a file written by torch.save (neither its archive nor a pickle)"
    with pytest.raises(pcbench.PcbenchError) as refused:
        load_checkpoint(path)
    message = str(refused.value)
    assert message == (
        f"cannot load checkpoint '{path}' (refused: pcbench never unpickles code): {words}; delete it to start over"
    )


def test_import_feedback_names_a_fifo_instead_of_hanging(tmp_path):
    fifo = tmp_path / "pc1.pth"
    os.mkfifo(fifo)
    with pytest.raises(pcbench.PcbenchError, match="is a named pipe"):
        pcbench.import_feedback("digits-pcnn", [fifo], out=tmp_path / "out.pt")
