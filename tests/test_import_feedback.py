"""``pcbench import-feedback``: Predify's three checkpoint formats, written here by hand from the
documented key layout (``../shared/reference/predictive-coding.md``, *Checkpoint formats*),
imported onto ``digits-pcnn`` and ``pvgg16``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import pcbench
from pcbench.hashing import hash_file
from pcbench.models.build import describe_architecture, expected_weights_path
from pcbench.models.checkpoints import read_training_record
from pcbench.registry import get_model_spec

#: digits-pcnn's predictors as Predify's pmodules (pcbench/models/digits.py): PCoder 1 a bare
#: ConvTranspose2d, PCoders 2 and 3 Sequential(ConvTranspose2d, ReLU).
DIGITS_PMODULES = {
    1: {"weight": (16, 3, 5, 5), "bias": (3,)},
    2: {"0.weight": (32, 16, 4, 4), "0.bias": (16,)},
    3: {"0.weight": (64, 32, 4, 4), "0.bias": (32,)},
}


class Payload:
    """Pickled as code: a weights-only load must refuse it."""


def random_pmodules(seed: int = 7) -> dict[int, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return {
        n: {key: torch.randn(shape, generator=generator) for key, shape in keys.items()}
        for n, keys in DIGITS_PMODULES.items()
    }


def reference_logits(pmodules: dict[int, dict[str, torch.Tensor]], tmp_path: Path) -> torch.Tensor:
    """digits-pcnn's logits with these predictor weights, saved in pcbench's own layout
    (ModuleList index, then the predictor's keys) without the importer."""
    state = {f"{n - 1}.{key}": tensor for n, keys in pmodules.items() for key, tensor in keys.items()}
    path = tmp_path / "reference.pt"
    torch.save({"state_dict": state}, path)
    return logits(path)


def logits(weights: Path) -> torch.Tensor:
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return pcbench.load_model("digits-pcnn", timesteps=3, weights=weights)(images)


def write_predictor_files(pmodules, tmp_path: Path) -> list[Path]:
    paths = []
    for n, state in pmodules.items():
        paths.append(tmp_path / f"digits_pc{n}_pmodule.pth")
        torch.save(state, paths[-1])
    return paths


def write_training_checkpoints(pmodules, tmp_path: Path) -> list[Path]:
    paths = []
    for n, state in pmodules.items():
        parameters = [torch.nn.Parameter(tensor.clone()) for tensor in state.values()]
        optimizer = torch.optim.Adam(parameters)
        sum(p.sum() for p in parameters).backward()
        optimizer.step()  # a real optimizer state: tensors, numbers, tuples
        paths.append(tmp_path / f"pnet_pretrained_pc{n}_004.pth")
        checkpoint = {
            "pcoderweights": {f"pmodule.{key}": tensor for key, tensor in state.items()},
            "optimizer": optimizer.state_dict(),
            "epoch": 4,
        }
        torch.save(checkpoint, paths[-1])
    return paths


def write_network(pmodules, tmp_path: Path) -> list[Path]:
    state = {"backbone.0.0.weight": torch.zeros(16, 3, 3, 3), "backbone.2.bias": torch.zeros(10)}
    for n, keys in pmodules.items():
        state.update({f"pcoder{n}.pmodule.{key}": tensor for key, tensor in keys.items()})
        state.update({f"ffm{n}": torch.tensor(0.1 * n), f"fbm{n}": torch.tensor(0.05), f"erm{n}": torch.tensor(0.01)})
    path = tmp_path / "pnet.pth"
    torch.save(state, path)
    return [path]


@pytest.mark.parametrize(
    ("write", "fmt"),
    [
        (write_predictor_files, "predictor"),
        (write_training_checkpoints, "training checkpoint"),
        (write_network, "network"),
    ],
)
def test_each_format_gives_digits_pcnn_with_those_weights_bitwise(write, fmt, tmp_path):
    pmodules = random_pmodules()
    files = write(pmodules, tmp_path)
    out = tmp_path / "imported.pt"

    result = pcbench.import_feedback("digits-pcnn", files, out=out)

    assert result.weights == out
    assert torch.equal(logits(out), reference_logits(pmodules, tmp_path))
    record = read_training_record(out)
    assert record is not None and record["objective"].startswith("imported")
    assert [(e["file"], e["sha256"], e["format"]) for e in record["imported"]] == [
        (str(path), hash_file(path), fmt) for path in files
    ]
    if fmt == "training checkpoint":
        assert [entry["epoch"] for entry in record["imported"]] == [4, 4, 4]
    if fmt == "network":
        hyperparameters = record["imported_hyperparameters"]
        assert hyperparameters["beta"] == [float(torch.tensor(0.1 * n)) for n in (1, 2, 3)]
        assert hyperparameters["lambda"] == [float(torch.tensor(0.05))] * 3
        assert hyperparameters["alpha"] == [float(torch.tensor(0.01))] * 3
    else:
        assert "imported_hyperparameters" not in record


def test_files_out_of_pcoder_order_are_refused(tmp_path):
    files = write_predictor_files(random_pmodules(), tmp_path)
    out = tmp_path / "imported.pt"
    with pytest.raises(pcbench.PcbenchError) as error:
        pcbench.import_feedback("digits-pcnn", [files[1], files[0], files[2]], out=out)
    assert str(error.value) == (
        f"PCoder 1: '{files[1]}' key '0.weight' has shape (32, 16, 4, 4), but digits-pcnn's predictor 1 "
        "expects (16, 3, 5, 5) (its 'weight')"
    )
    assert not out.exists()


def test_unexpected_key_and_wrong_file_count(tmp_path):
    pmodules = random_pmodules()
    pmodules[2]["0.extra"] = torch.zeros(1)
    files = write_predictor_files(pmodules, tmp_path)
    with pytest.raises(pcbench.PcbenchError, match=r"^PCoder 2: '.*' has unexpected key '0.extra'"):
        pcbench.import_feedback("digits-pcnn", files, out=tmp_path / "imported.pt")
    with pytest.raises(pcbench.PcbenchError, match="^2 per-PCoder files given, but the model has 3 PCoders"):
        pcbench.import_feedback("digits-pcnn", files[:2], out=tmp_path / "imported.pt")


def pvgg16_pmodule_shapes() -> dict[int, dict[str, tuple[int, ...]]]:
    """PVGG16's pmodule keys and shapes from pcbench's weightless (meta-device) description:
    predictor n maps PCoder n's channels to PCoder n-1's (the image's 3 for n = 1)."""
    architecture = describe_architecture(get_model_spec("pvgg16"))
    shapes = {}
    for n, description in enumerate(architecture.predictors, start=1):
        c_in, c_out, kernel = map(int, re.match(r"ConvT\((\d+)→(\d+),k(\d+)", description).groups())
        prefix = "" if n == 1 else "0."
        shapes[n] = {f"{prefix}weight": (c_in, c_out, kernel, kernel), f"{prefix}bias": (c_out,)}
    return shapes


def write_pvgg16_files(shapes, tmp_path: Path) -> list[Path]:
    """Predify's released file names; each tensor a one-element storage expanded to its shape,
    so that full-sized shapes take files of a few bytes."""
    files = []
    for n, keys in shapes.items():
        files.append(tmp_path / f"pvgg16_imagenet_pretrained_pc{n}_pmodule.pth")
        torch.save({key: torch.zeros(()).expand(shape) for key, shape in keys.items()}, files[-1])
    return files


def test_pvgg16_default_out_is_the_file_the_zoo_model_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("PCBENCH_WEIGHTS", str(tmp_path / "weights"))
    files = write_pvgg16_files(pvgg16_pmodule_shapes(), tmp_path)

    result = pcbench.import_feedback("pvgg16", files)

    assert result.weights == tmp_path / "weights" / "pvgg16-feedback.pt"
    assert expected_weights_path(get_model_spec("pvgg16")) == result.weights
    assert [entry["sha256"] for entry in read_training_record(result.weights)["imported"]] == [
        hash_file(path) for path in files
    ]


def test_pvgg16_files_with_one_wrong_shape_give_one_line(tmp_path, run_main):
    shapes = pvgg16_pmodule_shapes()
    shapes[3]["0.weight"] = (256, 128, 13, 13)  # PVGG16's third predictor has k = 14
    files = write_pvgg16_files(shapes, tmp_path)
    out = tmp_path / "pvgg16-feedback.pt"

    status, stderr = run_main(["import-feedback", "pvgg16", *map(str, files), "--out", str(out)])

    assert status == 2
    assert stderr == (
        f"error: PCoder 3: '{files[2]}' key '0.weight' has shape (256, 128, 13, 13), but pvgg16's predictor 3 "
        "expects (256, 128, 14, 14) (its '0.weight')\n"
    )
    assert not out.exists()


def test_a_file_with_pickled_code_is_refused_without_unsafe_advice(tmp_path, run_main):
    files = write_predictor_files(random_pmodules(), tmp_path)
    torch.save({"weight": Payload(), "bias": torch.zeros(3)}, files[0])
    out = tmp_path / "imported.pt"

    status, stderr = run_main(["import-feedback", "digits-pcnn", *map(str, files), "--out", str(out)])

    assert status == 2
    assert stderr == (
        f"error: weights '{files[0]}' are not a plain state dict (refused: pcbench never unpickles code): "
        f"it asks for {__name__}.Payload, which is code, not tensor data\n"
    )
    assert not out.exists()
