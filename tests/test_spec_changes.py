"""Spec changes are visible (issue 18, point 4).

A user trains a PC variant's feedback, edits β in the model file and registers it again:
the trained weights stay (with a note), train-feedback resumes instead of retraining,
compare/report/plot leave out the cells of the old spec (naming both hashes), the next run
says which cells it replaces, and a variant without feedback weights is named untrained in
``pcbench models``, in the run's output and in the report. Each through the CLI (in-process)
and the API, on a tiny CNN on digits.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import pcbench
from pcbench.api import register_file, train_feedback
from pcbench.cli import cli
from pcbench.errors import PcbenchError
from pcbench.leaderboards.report import report_path
from pcbench.models.cards import format_model_card
from pcbench.models.digits import digits_cnn
from pcbench.models.pc import PCModel
from pcbench.registry import get_model_spec, spec_hash
from pcbench.registry.spec import untrained_message
from pcbench.training.feedback import FeedbackSettings

CPU = torch.device("cpu")

TINY_MODULE = """
from torch import nn

def cnn(num_classes=10):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, num_classes),
    )
"""

MODEL_FILE = """
[models.tiny-cnn]
arch = "pcbench_spec_tiny:cnn"
num_classes = 10
dataset = "digits"
input_size = 32
mean = [0.5, 0.5, 0.5]
std = [0.5, 0.5, 0.5]

[models.tiny-pc]
variant = "pc"
base = "tiny-cnn"
timesteps = 2
{weights}
[models.tiny-pc.pc]
beta = {beta}
layers = {layers}
"""

SUITE = """name = "specs"
models = ["tiny-cnn", "tiny-pc"]
[dataset]
name = "digits"
split = "test"
limit = 20
"""

SAMPLES, BATCH = 64, 32  # two batches per training epoch


def model_file(beta: float = 0.8, layers: str = '["1", "4"]', weights: Path | None = None) -> str:
    return MODEL_FILE.format(beta=beta, layers=layers, weights=f'weights = "{weights}"' if weights else "")


@pytest.fixture
def home(registry_snapshot, tmp_path: Path, monkeypatch) -> Path:
    """A private pcbench home whose user registry holds tiny-cnn and tiny-pc (β = 0.8, no
    feedback weights), registered from ``<tmp>/tiny.toml``."""
    home = tmp_path / "home"
    monkeypatch.setenv("PCBENCH_HOME", str(home))
    (tmp_path / "pcbench_spec_tiny.py").write_text(TINY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "tiny.toml").write_text(model_file())
    register_file(tmp_path / "tiny.toml")
    return home


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    path = tmp_path / "specs.toml"
    path.write_text(SUITE)
    return path


def settings(epochs: int, **overrides) -> FeedbackSettings:
    fields = dict(dataset="digits", limit=SAMPLES, batch_size=BATCH, optimizer="adam", lr=1e-2, weight_decay=0.0)
    return FeedbackSettings(epochs=epochs, **{**fields, **overrides})


def saved_entry(home: Path, name: str) -> dict:
    return tomllib.loads((home / "registry.toml").read_text())["models"][name]


def lines_starting(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def kept_note(weights: Path) -> str:
    return (
        f"note: model 'tiny-pc': kept the feedback weights {weights} of the entry it replaces (the file names "
        "none); pass --drop-weights to register it without them"
    )


def test_register_replace_keeps_trained_feedback_weights_and_says_so(home, tmp_path, run_main):
    trained = train_feedback("tiny-pc", settings(1), CPU).weights
    assert get_model_spec("tiny-pc").weights == str(trained)  # train-feedback updated the entry
    toml = tmp_path / "tiny.toml"
    toml.write_text(model_file(beta=0.5))

    status, err = run_main(["register", str(toml), "--replace"])
    assert status == 0, err
    assert err.splitlines() == [kept_note(trained)]
    spec = get_model_spec("tiny-pc")
    assert (spec.weights, spec.pc.layers[0].beta) == (str(trained), 0.5)
    assert saved_entry(home, "tiny-pc")["weights"] == str(trained)
    assert f"{'weights':<20}{trained}\n" in format_model_card("tiny-pc")

    toml.write_text(model_file(beta=0.5, layers='["1"]'))  # other predictors: the weights cannot fit
    status, err = run_main(["register", str(toml), "--replace"])
    assert status == 2
    assert err == (
        f"error: {toml}: model 'tiny-pc': the entry it replaces has feedback weights {trained}, made for other "
        "predictors (the base, PCoder modules or predictor declarations differ); pass --drop-weights to register "
        "it without weights (untrained predictors), or name weights in the file\n"
    )
    assert get_model_spec("tiny-pc").pc.layers[0].beta == 0.5 and len(get_model_spec("tiny-pc").pc.layers) == 2

    status, err = run_main(["register", str(toml), "--replace", "--drop-weights"])
    assert status == 0, err
    assert err == f"warning: {untrained_message(get_model_spec('tiny-pc'))}\n"
    assert get_model_spec("tiny-pc").weights is None and "weights" not in saved_entry(home, "tiny-pc")


def test_register_file_replace_keeps_weights_unless_dropped(home, tmp_path, capsys):
    trained = train_feedback("tiny-pc", settings(1), CPU).weights
    toml = tmp_path / "tiny.toml"
    toml.write_text(model_file(beta=0.5))
    capsys.readouterr()
    register_file(toml, replace=True)
    assert capsys.readouterr().err.splitlines() == [kept_note(trained)]
    assert get_model_spec("tiny-pc").weights == str(trained)

    explicit = tmp_path / "other.pt"
    explicit.write_bytes(trained.read_bytes())
    toml.write_text(model_file(beta=0.6, weights=explicit))  # a file naming weights wins
    register_file(toml, replace=True)
    assert capsys.readouterr().err == "" and get_model_spec("tiny-pc").weights == str(explicit)

    with pytest.raises(PcbenchError, match=r"^--drop-weights applies only with --replace"):
        register_file(toml, drop_weights=True)
    toml.write_text(model_file(beta=0.6))
    register_file(toml, replace=True, drop_weights=True)
    assert get_model_spec("tiny-pc").weights is None


def count_reconstructions(monkeypatch) -> dict[str, int]:
    """Count the training batches of stage 1 (one reconstruction per batch)."""
    calls = {"n": 0}
    original = PCModel.reconstruction_errors

    def counted(self, x):
        calls["n"] += 1
        return original(self, x)

    monkeypatch.setattr(PCModel, "reconstruction_errors", counted)
    return calls


def test_train_feedback_resumes_after_a_beta_change(home, tmp_path, run_main, monkeypatch):
    first = train_feedback("tiny-pc", settings(2), CPU)
    toml = tmp_path / "tiny.toml"
    toml.write_text(model_file(beta=0.5))
    register_file(toml, replace=True)  # keeps the trained weights
    calls = count_reconstructions(monkeypatch)

    again = train_feedback("tiny-pc", settings(2), CPU)  # API: both epochs are in the checkpoint
    assert calls["n"] == 0
    a, b = (torch.load(result.weights, weights_only=True)["state_dict"] for result in (first, again))
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)

    toml.write_text(model_file(beta=0.3))
    register_file(toml, replace=True)
    args = ["train-feedback", "tiny-pc", "--limit", str(SAMPLES), "--batch-size", str(BATCH), "--optimizer", "adam"]
    status, err = run_main([*args, "--lr", "0.01", "--weight-decay", "0", "--epochs", "3", "--device", "cpu"])
    assert status == 0, err
    assert calls["n"] == SAMPLES // BATCH  # CLI: only the third epoch ran
    (run_dir,) = (home / "train-feedback").iterdir()  # one stage-1 checkpoint for all three β

    toml.write_text(model_file(beta=0.5))
    register_file(toml, replace=True)
    train_feedback("tiny-pc", settings(3, hyperparameter_epochs=1), CPU)
    toml.write_text(model_file(beta=0.3))
    register_file(toml, replace=True)
    train_feedback("tiny-pc", settings(3, hyperparameter_epochs=1), CPU)
    assert calls["n"] == SAMPLES // BATCH  # stage 1 never ran again...
    assert len(list(run_dir.glob("hyperparameters-*-after-3.pt"))) == 2  # ...stage 2, which uses β, did


def test_cells_of_an_old_spec_are_left_out_and_the_next_run_says_it_replaces_them(
    home, tmp_path, suite, run_main, capsys
):
    results, boards = tmp_path / "results", tmp_path / "boards"
    run = ["run", str(suite), "--results", str(results), "--leaderboards", str(boards)]
    run += ["--device", "cpu", "--workers", "1"]
    status, err = run_main(run)
    assert status == 0, err
    old = spec_hash(get_model_spec("tiny-pc"))
    (tmp_path / "tiny.toml").write_text(model_file(beta=0.5))
    register_file(tmp_path / "tiny.toml", replace=True)
    new = spec_hash(get_model_spec("tiny-pc"))
    assert old != new
    stale = (
        f"model 'tiny-pc': 1 cell stored under spec hash {old}, but its registered spec has hash {new}; "
        "left out (stale) — rerun the suite to recompute them"
    )

    loaded = pcbench.load_results(suite, results)  # API
    assert stale in loaded.warnings and set(loaded.scores["model"]) == {"tiny-cnn"}
    assert set(loaded.predictions["model"]) == {"tiny-cnn"}
    for command in ("compare", "report", "plot"):  # CLI
        status, err = run_main([command, str(suite), "--results", str(results), "--leaderboards", str(boards)])
        assert status == 0, err
        assert lines_starting(err, "warning: model 'tiny-pc': ") == [f"warning: {stale}"]
    report = report_path(boards, "specs").read_text()
    assert f"- {stale}" in report and "| tiny-pc " not in report

    status, err = run_main(run)
    assert status == 0, err
    assert lines_starting(err, "replacing ") == [
        f"replacing 1 cell of model 'tiny-pc' stored under spec hash {old} with spec hash {new}"
    ]
    loaded = pcbench.load_results(suite, results)
    assert not [line for line in loaded.warnings if "stale" in line]
    assert set(loaded.scores.loc[loaded.scores.model == "tiny-pc", "model_spec_hash"]) == {new}

    (tmp_path / "tiny.toml").write_text(model_file(beta=0.3))
    register_file(tmp_path / "tiny.toml", replace=True)
    newer = spec_hash(get_model_spec("tiny-pc"))
    capsys.readouterr()
    pcbench.run(suite, results=results, leaderboards=None, device="cpu", workers=1, progress=False)  # API
    assert lines_starting(capsys.readouterr().err, "replacing ") == [
        f"replacing 1 cell of model 'tiny-pc' stored under spec hash {new} with spec hash {newer}"
    ]


def test_unregistered_modules_are_never_stale(home, tmp_path, suite):
    results = tmp_path / "results"
    torch.manual_seed(0)
    pcbench.evaluate(digits_cnn(), suite, name="nb-net", results=results, workers=1, device="cpu", progress=False)
    loaded = pcbench.load_results(suite, results)
    assert loaded.warnings == () and set(loaded.scores["model"]) == {"nb-net"}


def test_a_pc_variant_without_feedback_weights_is_named_untrained(home, tmp_path, suite, run_main, capsys):
    untrained = untrained_message(get_model_spec("tiny-pc"))
    assert untrained == (
        "model 'tiny-pc' is a PC variant without feedback weights: its predictors are untrained (seeded "
        "initialisation); train them with `pcbench train-feedback tiny-pc`"
    )
    listing = CliRunner().invoke(cli, ["models"])
    assert listing.exit_code == 0, listing.output
    rows = {line.split()[0]: line.split() for line in listing.output.splitlines()[1:]}
    assert rows["tiny-pc"][1:4] == ["pc", "(untrained)", "tiny-cnn"]
    assert rows["digits-pcnn"][1:3] == ["pc", "digits-cnn"]  # its feedback weights ship with pcbench
    assert "none (seeded init: untrained feedback)" in format_model_card("tiny-pc")

    results, boards = tmp_path / "results", tmp_path / "boards"
    run = ["run", str(suite), "--results", str(results), "--leaderboards", str(boards), "--device", "cpu"]
    status, err = run_main([*run, "--workers", "1"])
    assert status == 0, err
    assert untrained in err.splitlines()  # said before the run evaluates
    assert f"warning: {untrained}" in err.splitlines()  # and among the report's warnings
    assert f"- {untrained}" in report_path(boards, "specs").read_text()
    assert pcbench.load_results(suite, results).warnings == (untrained,)

    capsys.readouterr()
    pcbench.run(suite, results=results, leaderboards=None, device="cpu", workers=1, progress=False)
    assert capsys.readouterr().err.splitlines() == [untrained]

    train_feedback("tiny-pc", settings(1), CPU)
    listing = CliRunner().invoke(cli, ["models"])
    assert "(untrained)" not in listing.output
    assert untrained not in pcbench.load_results(suite, results).warnings  # its cells are stale now
