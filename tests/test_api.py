"""The public API as a notebook user meets it: ``import pcbench`` only, same numbers as the CLI."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import pcbench
from pcbench.cli import cli

SUITE = """name = "api"
models = ["digits-cnn", "digits-pcnn"]
timesteps = [0, 3]
[dataset]
name = "digits"
split = "test"
limit = 20
[corruptions]
names = ["fog"]
severities = [1]
[[attacks]]
kind = "fgsm"
epsilons = [0.05]
"""

ROW = ["model", "cell", "timestep"]


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "api.toml"
    path.write_text(SUITE)
    return path


def test_list_models_takes_wildcards_and_filters():
    digits = ["digits-cnn", "digits-hgru", "digits-kuramoto", "digits-kuramoto-base", "digits-pcnn"]
    assert pcbench.list_models("digits-*") == digits
    assert "digits-pcnn" in pcbench.list_models(variant="pc") and "digits-cnn" not in pcbench.list_models(variant="pc")
    assert pcbench.list_models("*resnet*", variant="pc") == ["presnet18", "presnet18-cifar100"]
    assert pcbench.list_models(dataset="digits") == digits
    with pytest.raises(pcbench.PcbenchError, match="variant = 'rnn' is not allowed"):
        pcbench.list_models(variant="rnn")


def test_load_model_gives_per_timestep_logits_and_takes_a_weights_file():
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    model = pcbench.load_model("digits-pcnn")
    with torch.no_grad():
        logits = model(images)
    assert logits.shape == (11, 4, 10)
    with torch.no_grad():
        short = pcbench.load_model("digits-pcnn", timesteps=3)(images)
    assert short.shape == (4, 4, 10) and torch.equal(short, logits[:4])  # the same unroll, stopped earlier
    from pcbench.models.build import weights_path

    same = pcbench.load_model("digits-pcnn", weights=weights_path(pcbench.get_model_spec("digits-pcnn")))
    with torch.no_grad():
        assert torch.equal(same(images), logits)
    with pytest.raises(pcbench.PcbenchError, match="the file does not exist"):
        pcbench.load_model("digits-cnn", weights="/nonexistent.pt")


def test_wrap_pc_makes_a_pc_variant_of_any_module_without_registering():
    backbone = pcbench.load_model("digits-cnn").backbone
    before = pcbench.list_models()
    model = pcbench.wrap_pc(backbone, ["0.1", "0.4"], mean=(0.5,) * 3, std=(0.5,) * 3, input_size=32, timesteps=2)
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, plain = model(images), pcbench.load_model("digits-cnn")(images)
    assert logits.shape == (3, 3, 10) and torch.equal(logits[0], plain[0])  # timestep 0 is the backbone
    assert not torch.equal(logits[2], logits[0]) and pcbench.list_models() == before


def test_checkpoint_hash_of_missing_weights_raises_and_never_trains(tmp_path, registry_snapshot):
    from pcbench.models.build import checkpoint_hash

    spec = dataclasses.replace(
        pcbench.get_model_spec("digits-cnn"),
        name="absent-cnn",
        weights=str(tmp_path / "absent.pt"),
        weights_sha256=None,
    )
    with pytest.raises(pcbench.PcbenchError, match="absent.pt' does not exist"):
        checkpoint_hash(spec)
    assert list(tmp_path.iterdir()) == []


def test_an_unregistered_module_is_evaluated_like_its_registered_twin(suite_file, tmp_path):
    network = pcbench.load_model("digits-cnn")  # a plain nn.Module from here on: images in [0, 1] -> logits
    module = nn.Sequential(network.normalize, network.backbone)
    result = pcbench.evaluate(module, suite_file, name="my-cnn", results=tmp_path / "results", workers=1)
    scores = result.scores
    assert sorted(scores["cell"].unique()) == ["clean", "fgsm@0.05", "fog/1"]
    assert set(scores["variant"]) == {"feedforward"} and set(scores["n"]) == {20}
    assert sorted(result.accuracy.index) == ["clean", "fgsm@0.05", "fog/1"] and list(result.accuracy.columns) == [0]
    from pcbench.models.identity import parameters_hash

    assert set(scores["checkpoint_hash"]) == {parameters_hash(module)}
    twin = CliRunner().invoke(
        cli,
        [
            "run",
            str(suite_file),
            "-m",
            "digits-cnn",
            "--results",
            str(tmp_path / "results"),
            "--leaderboards",
            str(tmp_path / "lb"),
            "--workers",
            "1",
            "--device",
            "cpu",
        ],
    )
    assert twin.exit_code == 0, twin.output
    stored = pcbench.load_results(suite_file, tmp_path / "results").scores
    mine = stored[stored.model == "my-cnn"].set_index("cell")["correct"]
    registered = stored[stored.model == "digits-cnn"].set_index("cell")["correct"]
    assert mine.sort_index().tolist() == registered.sort_index().tolist()  # the same network, the same numbers
    again = pcbench.evaluate(module, suite_file, name="my-cnn", results=tmp_path / "results", workers=1)
    assert again.scores["run_id"].tolist() == scores["run_id"].tolist()  # stored cells are resumed, not recomputed
    assert again.evaluated == () and len(again.skipped) == 3
    with pytest.raises(pcbench.PcbenchError, match="needs a name"):
        pcbench.evaluate(module, suite_file, results=tmp_path / "results")


def test_run_load_results_and_leaderboard_equal_the_cli(suite_file, tmp_path):
    summary = pcbench.run(
        suite_file,
        results=tmp_path / "api-results",
        leaderboards=tmp_path / "api-lb",
        progress=False,
        workers=1,
        device="cpu",
    )
    assert len(summary.evaluated) == 6 and (tmp_path / "api-lb" / "api-report.md") in summary.report
    cli_run = CliRunner().invoke(
        cli,
        [
            "run",
            str(suite_file),
            "--results",
            str(tmp_path / "cli-results"),
            "--leaderboards",
            str(tmp_path / "cli-lb"),
            "--workers",
            "1",
            "--device",
            "cpu",
        ],
    )
    assert cli_run.exit_code == 0, cli_run.output
    ours = pcbench.load_results(suite_file, tmp_path / "api-results").scores.sort_values(ROW)
    theirs = pcbench.load_results(suite_file, tmp_path / "cli-results").scores.sort_values(ROW)
    assert (
        ours["correct"].tolist() == theirs["correct"].tolist()
        and ours["cell_key"].tolist() == theirs["cell_key"].tolist()
    )
    board = pcbench.leaderboard(suite_file, results=[tmp_path / "api-results"])
    written = pd.read_csv(tmp_path / "cli-lb" / "api.csv")
    assert len(board.metrics) == len(written)
    assert [f"{v:.6g}" for v in board.metrics["value"]] == [f"{v:.6g}" for v in written["value"]]
    assert (tmp_path / "api-lb" / "api-plots" / "variant-vs-base.png").is_file()
