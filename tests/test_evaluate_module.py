"""Bring your own module: ``pcbench.evaluate`` on a notebook user's ``nn.Module``.

Its cells are keyed by the module's whole identity (a β sweep or a swapped parameter-free
layer under one name never gets the old numbers), the caller's module is left as it was,
``base=`` pairs a dynamic module with its feedforward base, ``mean``/``std`` put the
normalisation inside, the layout probe cannot read batch-first logits as time-first, and a
script without a main guard neither re-runs in worker processes nor waits for its own lock.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import pcbench
from pcbench.models.digits import DIGITS_PC_MODULES, digits_cnn
from pcbench.models.identity import parameters_hash, structure_hash
from pcbench.models.protocol import as_timestep_model

SUITE = """name = "mine"
models = ["digits-cnn"]
timesteps = [0, 2]
[dataset]
name = "digits"
split = "test"
limit = 20
"""
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mine") / "mine.toml"
    path.write_text(SUITE)
    return path


def backbone() -> nn.Module:
    """digits-cnn's architecture with its shipped weights, as a user would hold it."""
    network = pcbench.load_model("digits-cnn")
    module = digits_cnn()
    module.load_state_dict(network.backbone.state_dict())
    return module


def variant(beta: float) -> nn.Module:
    return pcbench.wrap_pc(backbone(), DIGITS_PC_MODULES, mean=MEAN, std=STD, input_size=32, timesteps=2, beta=beta)


def test_a_beta_sweep_under_one_name_gets_each_betas_own_numbers(suite_file, tmp_path):
    results = tmp_path / "results"
    first = pcbench.evaluate(variant(0.8), suite_file, name="nb-pc", results=results, workers=1, device="cpu")
    second = pcbench.evaluate(variant(0.5), suite_file, name="nb-pc", results=results, workers=1, device="cpu")
    fresh = pcbench.evaluate(variant(0.5), suite_file, name="nb-pc-05", results=results, workers=1, device="cpu")
    assert len(second.evaluated) == 1 and second.skipped == ()  # computed afresh, not answered from storage
    assert second.scores["run_id"].iloc[0] != first.scores["run_id"].iloc[0]
    assert second.scores["model_spec_hash"].iloc[0] != first.scores["model_spec_hash"].iloc[0]
    assert second.accuracy.equals(fresh.accuracy)  # the β = 0.5 numbers, as a fresh evaluation gives them
    logits = {
        beta: variant(beta)(torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))) for beta in (0.8, 0.5)
    }
    assert not torch.equal(logits[0.8][2], logits[0.5][2])  # the two modules really differ at t = 2
    stored = pcbench.load_results(suite_file, results).scores
    assert set(stored.loc[stored.model == "nb-pc", "run_id"]) == set(second.scores["run_id"])  # no β = 0.8 row left


def test_modules_that_differ_only_in_a_parameter_free_layer_never_share_cells(suite_file, tmp_path):
    relu = backbone()
    gelu = copy.deepcopy(relu)
    gelu[0][1] = nn.GELU()  # same parameters, other activation
    assert parameters_hash(relu) == parameters_hash(gelu) and structure_hash(relu) != structure_hash(gelu)
    results = tmp_path / "results"
    kwargs = {"results": results, "workers": 1, "device": "cpu", "mean": MEAN, "std": STD}
    pcbench.evaluate(relu, suite_file, name="mine", **kwargs)
    swapped = pcbench.evaluate(gelu, suite_file, name="mine", **kwargs)
    fresh = pcbench.evaluate(gelu, suite_file, name="mine-gelu", **kwargs)
    assert len(swapped.evaluated) == 1 and swapped.accuracy.equals(fresh.accuracy)
    pooled = copy.deepcopy(relu)
    pooled[0][2] = nn.AvgPool2d(2)
    assert structure_hash(pooled) != structure_hash(relu)


def test_identity_covers_pc_settings_attributes_and_the_users_key_but_not_checkpointing():
    model = variant(0.8)
    assert structure_hash(model) == structure_hash(variant(0.8))  # deterministic
    assert structure_hash(model) != structure_hash(variant(0.5))
    model.activation_checkpointing = True  # same numbers, same identity
    assert structure_hash(model) == structure_hash(variant(0.8))
    assert structure_hash(model, key="v1") != structure_hash(model, key="v2")

    class Cell(nn.Module):
        def __init__(self, leak: float) -> None:
            super().__init__()
            self.leak = leak
            self.linear = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x) * self.leak

    assert structure_hash(Cell(0.1)) != structure_hash(Cell(0.2))  # a plain attribute is part of it
    buffered = nn.Linear(2, 2)
    other = copy.deepcopy(buffered)
    buffered.register_buffer("scale", torch.ones(1), persistent=False)
    other.register_buffer("scale", torch.zeros(1), persistent=False)
    assert parameters_hash(buffered) != parameters_hash(other)  # non-persistent buffers count too


def test_resume_false_recomputes_and_the_callers_module_is_left_as_it_was(suite_file, tmp_path):
    module = backbone().train()
    before = {name: p.data_ptr() for name, p in module.named_parameters()}
    results = tmp_path / "results"
    first = pcbench.evaluate(module, suite_file, name="mine", results=results, mean=MEAN, std=STD, workers=1)
    assert module.training and all(sub.training for sub in module.modules())
    assert all(p.data_ptr() == before[name] and p.requires_grad for name, p in module.named_parameters())
    again = pcbench.evaluate(module, suite_file, name="mine", results=results, mean=MEAN, std=STD, workers=1)
    assert again.evaluated == () and again.skipped == first.evaluated
    redone = pcbench.evaluate(
        module, suite_file, name="mine", results=results, mean=MEAN, std=STD, workers=1, resume=False
    )
    assert redone.evaluated == first.evaluated and redone.accuracy.equals(first.accuracy)
    assert redone.scores["run_id"].iloc[0] != first.scores["run_id"].iloc[0]
    loss = module(torch.rand(2, 3, 32, 32)).sum()  # fine-tuning still works: gradients flow
    loss.backward()
    assert all(p.grad is not None for p in module.parameters())


def test_mean_and_std_equal_a_normalize_wrapper(suite_file, tmp_path):
    from pcbench.models.protocol import Normalize

    results = tmp_path / "results"
    inside = pcbench.evaluate(backbone(), suite_file, name="a", results=results, mean=MEAN, std=STD, workers=1)
    wrapped = nn.Sequential(Normalize(MEAN, STD), backbone())
    outside = pcbench.evaluate(wrapped, suite_file, name="b", results=results, workers=1)
    assert inside.accuracy.equals(outside.accuracy) and inside.accuracy.loc["clean", 0] > 0.9
    with pytest.raises(pcbench.PcbenchError, match="mean and std go together"):
        pcbench.evaluate(backbone(), suite_file, name="c", results=results, mean=MEAN)


def test_base_pairs_the_variant_with_a_registered_base_or_a_stored_name(suite_file, tmp_path):
    results, boards = tmp_path / "results", tmp_path / "lb"
    paired = pcbench.evaluate(
        variant(0.8), suite_file, name="nb-pc", base="digits-cnn", results=results, leaderboards=boards, workers=1
    )
    assert paired.summary["model"].tolist() == ["digits-cnn", "nb-pc"]
    row = paired.summary.set_index("model").loc["nb-pc"]
    assert row["delta_clean_acc:t0"] == 0.0  # at timestep 0 the variant is its base
    assert "p_clean_acc:last" in paired.summary.columns
    assert (boards / "mine-plots" / "variant-vs-base.png").is_file()
    pcbench.evaluate(backbone(), suite_file, name="my-ff", results=results, mean=MEAN, std=STD, workers=1)
    mine = pcbench.evaluate(variant(0.8), suite_file, name="nb-pc2", base="my-ff", results=results, workers=1)
    assert mine.summary.set_index("model").loc["nb-pc2", "delta_clean_acc:t0"] == 0.0
    with pytest.raises(pcbench.PcbenchError, match="neither a registered model nor stored"):
        pcbench.evaluate(variant(0.8), suite_file, name="x", base="nowhere", results=results)
    with pytest.raises(pcbench.PcbenchError, match="has no timesteps"):
        pcbench.evaluate(backbone(), suite_file, name="y", base="my-ff", mean=MEAN, std=STD, results=results)


class BatchFirst(nn.Module):
    """Logits ``[B, T + 1, classes]`` with T = 1: two probe images would look time-first."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3 * 32 * 32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(x.flatten(1))
        return torch.stack([logits, 2 * logits], dim=1)


def test_the_layout_probe_refuses_batch_first_logits():
    probes = [torch.rand(size, 3, 32, 32) for size in (2, 3)]
    with pytest.raises(ValueError, match="batch first"):
        as_timestep_model(BatchFirst(), probes)
    time_first = as_timestep_model(nn.Sequential(BatchFirst(), Transpose()), probes)
    assert time_first.timesteps == 1


class Transpose(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(0, 1)


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_script() -> str:
    """The README's script example: the Python block between its snippet markers (the block the
    documentation's tutorial includes)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- --8<-- [start:example] -->\n", 1)[1].split("<!-- --8<-- [end:example] -->", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_script_without_a_main_guard_runs_once_and_finishes(tmp_path, fresh_home):
    """Run as a file, the README's example (no main guard) generates its corruptions with 2
    worker processes, runs its body once, and writes the variant-vs-base table and plot."""
    script = tmp_path / "mine.py"
    body = readme_script()
    assert "__main__" not in body
    script.write_text('print("script body ran", flush=True)\n' + body)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=420,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("script body ran") == 1  # the corruption workers did not re-run the script
    assert "delta_clean_acc:last" in done.stdout and "my-pcnn" in done.stdout
    assert (tmp_path / "lb-mine" / "smoke-plots" / "variant-vs-base.png").is_file()
    assert any((fresh_home / "corruptions").rglob("*.npy"))  # the corruptions really were generated


def test_a_lock_held_by_this_process_is_an_error_not_a_wait(suite_file, tmp_path):
    from pcbench.store import results_lock

    results = tmp_path / "results"
    with results_lock(results / "mine"), pytest.raises(pcbench.PcbenchError, match="locked by this process"):
        pcbench.evaluate(backbone(), suite_file, name="m", results=results, mean=MEAN, std=STD, workers=1)


def test_a_distributed_run_refuses_a_model_defined_only_in_the_script(suite_file, tmp_path, registry_snapshot):
    def script_cnn(num_classes: int = 10) -> nn.Module:
        return digits_cnn(num_classes)

    script_cnn.__module__ = "__main__"  # as if defined in the user's script: worker processes cannot import it
    pcbench.register("script-cnn", num_classes=10, dataset="digits", input_size=32, mean=MEAN, std=STD)(script_cnn)
    options = pcbench.ExecutorOptions("local", devices=("cpu", "cpu"))
    with pytest.raises(pcbench.PcbenchError, match=r"script_cnn is defined in this script or notebook \(__main__\)"):
        pcbench.run(suite_file, models=["script-cnn"], results=tmp_path / "r", leaderboards=None, executor=options)
    assert not (tmp_path / "r").exists()


def test_cells_of_an_earlier_module_under_the_same_name_are_left_out_with_a_warning(suite_file, tmp_path):
    wider = tmp_path / "wider.toml"
    wider.write_text(SUITE + '[[attacks]]\nkind = "fgsm"\nepsilons = [0.05]\n')  # the same suite name, one cell more
    results = tmp_path / "results"
    first = pcbench.evaluate(variant(0.8), wider, name="nb-pc", results=results, workers=1, device="cpu")
    assert len(first.evaluated) == 2
    second = pcbench.evaluate(variant(0.5), suite_file, name="nb-pc", results=results, workers=1, device="cpu")
    assert list(second.accuracy.index) == ["clean"]  # only the β = 0.5 cell: fgsm@0.05 is β = 0.8's
    loaded = pcbench.load_results(suite_file, results)
    assert set(loaded.scores["cell"]) == {"clean"}
    (warning,) = [line for line in loaded.warnings if "earlier module" in line]
    old = f"{first.scores['model_spec_hash'].iloc[0]}/{first.scores['checkpoint_hash'].iloc[0]}"
    new = f"{second.scores['model_spec_hash'].iloc[0]}/{second.scores['checkpoint_hash'].iloc[0]}"
    assert warning == (
        f"model 'nb-pc': 1 cell stored for an earlier module (spec/checkpoint {old}) than its latest evaluation "
        f"({new}); left out — evaluate the module again on those cells to recompute them, or use a new name"
    )


def make_act(slope: float):
    def act(x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x, slope * x)

    return act


class WithAct(nn.Module):
    def __init__(self, act) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rep = self.act(self.linear(x))  # state a recurrent model would keep: not identity
        return self.rep


def test_closures_and_lambdas_are_told_apart_and_state_is_not_identity():
    assert structure_hash(WithAct(make_act(0.1))) != structure_hash(WithAct(make_act(0.9)))
    assert structure_hash(WithAct(lambda x: x)) != structure_hash(WithAct(lambda x: -x))
    module = WithAct(make_act(0.1))
    before = structure_hash(module)
    module(torch.rand(3, 2))  # leaves self.rep behind
    assert structure_hash(module) == before
    import functools

    opaque = [WithAct(functools.partial(torch.clamp, min=object())) for _ in range(2)]
    assert structure_hash(opaque[0]) == structure_hash(opaque[1])  # deterministic, not the object's address


def test_borrowed_restores_gradients_too():
    from pcbench.runner.entries import borrowed

    module = nn.Linear(2, 2)
    module(torch.rand(3, 2)).sum().backward()
    grad = module.weight.grad
    with borrowed([module]):
        module.to(torch.float64)
    assert module.weight.grad is grad and module.weight.grad.dtype == torch.float32
    assert module.weight.dtype == torch.float32 and module.weight.requires_grad
