"""Dynamic variants besides PC: the recurrent digits families and their pairing with a base."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
import torch
from test_compare import results

import pcbench
from pcbench.data.digits import load_digits_split
from pcbench.errors import PcbenchError
from pcbench.hashing import hash_file
from pcbench.leaderboards.board import CompareOptions, build_leaderboard, write_csvs
from pcbench.leaderboards.differences import variant_differences
from pcbench.leaderboards.plots import PLOTS
from pcbench.leaderboards.report import report_path, write_report
from pcbench.leaderboards.view import summary_view
from pcbench.models.build import build_model, load_state_dict, weights_path
from pcbench.models.cards import format_model_card
from pcbench.models.digits import WEIGHTS_DIR
from pcbench.models.dynamics import HGRUNet, KuramotoNet
from pcbench.models.protocol import Normalize
from pcbench.registry import get_model_spec
from pcbench.registry.spec import ModelSpec
from pcbench.registry.user_file import read_spec_file, spec_to_table
from pcbench.training.dynamics import train_reference_dynamics

RECURRENT = ("digits-hgru", "digits-kuramoto")


def as_recurrent(board_results):
    """The synthetic results with the PC variant ``pc`` declared ``recurrent`` instead."""
    scores = board_results.scores.copy()
    scores.loc[scores["model"] == "pc", "variant"] = "recurrent"
    return dataclasses.replace(board_results, scores=scores)


def test_a_recurrent_variant_is_paired_with_its_base_like_a_pc_variant(tmp_path: Path) -> None:
    """Every pairing (summary Δ and McNemar p, the view's Δ column, the differences behind
    ``variant-vs-base.png``, the report's section) is the PC variant's, number for number."""
    options = CompareOptions(baseline="ff")
    pc, recurrent = build_leaderboard(results(), options), build_leaderboard(as_recurrent(results()), options)
    row = recurrent.summary.set_index("model").loc["pc"]
    assert row["variant"] == "recurrent" and row["base"] == "ff"
    # clean: 9/10 for ff, 8/10 for the variant at its last timestep, 10/10 at its best
    assert row["delta_clean_acc:last"] == pytest.approx(-0.1) and row["delta_clean_acc:best"] == pytest.approx(0.1)
    assert row["p_clean_acc:last"] == 1.0 and row["p_best_known_linf@0.1_acc:last"] == 0.25
    deltas = [column for column in pc.summary.columns if column.startswith(("delta_", "p_"))]
    assert deltas and recurrent.summary[deltas].equals(pc.summary[deltas])
    assert summary_view(recurrent).equals(summary_view(pc))
    options_bootstrap = recurrent.options.bootstrap
    differences = variant_differences(recurrent.outcomes, recurrent.models, options_bootstrap)
    assert not differences.empty
    assert differences.equals(variant_differences(pc.outcomes, pc.models, options_bootstrap))
    figure = PLOTS["variant-vs-base"](recurrent)
    assert figure is not None and figure.subfigs[0].get_suptitle() == "pc − ff"
    write_csvs(recurrent, tmp_path)
    text = write_report(recurrent, report_path(tmp_path, "syn"), []).read_text()
    assert "## Did the dynamics help? `pc` vs `ff`" in text
    assert "| clean | 90.0 | 90.0 | +0.0 (1) | 80.0 | -10.0 (1) | 100.0 | +10.0 (1) |" in text.splitlines()


def test_the_recurrent_families_follow_the_protocol() -> None:
    data = load_digits_split("test")
    x, labels = data.tensor(), torch.from_numpy(data.labels)
    with torch.no_grad():
        cnn, hgru = build_model("digits-cnn")(x), build_model("digits-hgru")(x)
        short = build_model("digits-hgru", timesteps=3)(x)
    assert hgru.shape == (11, 360, 10) and short.shape == (4, 360, 10)
    assert torch.equal(hgru[0], cnn[0])  # H2[0] = X: timestep 0 is the base
    assert torch.equal(short, hgru[:4])
    assert not torch.equal(hgru[10], hgru[0])  # the recurrence does act
    assert (hgru[10].argmax(-1) == labels).float().mean() >= 0.98  # shipped weights: 98.6 %
    assert pcbench.list_models(variant="recurrent") == ["digits-hgru", "digits-kuramoto"]
    assert get_model_spec("digits-kuramoto").input_size == 32  # inherited from its base


def test_kuramoto_is_stochastic_through_torchs_global_generator() -> None:
    """Random initial phases: two draws differ, a seeded caller repeats them, and the draw
    advances torch's global generator (no private fixed seed)."""
    data = load_digits_split("test")
    x, labels = data.tensor()[:120], torch.from_numpy(data.labels)[:120]
    model = build_model("digits-kuramoto")
    with torch.no_grad():
        torch.manual_seed(0)
        before = torch.get_rng_state()
        first = model(x)
        assert not torch.equal(torch.get_rng_state(), before)
        second = model(x)
        torch.manual_seed(0)
        repeated = model(x)
        base = build_model("digits-kuramoto-base")(x)
    assert first.shape == (11, 120, 10) and base.shape == (1, 120, 10)
    assert torch.equal(first, repeated) and not torch.equal(first, second)
    accuracy = (first.argmax(-1) == labels).float().mean(dim=1)
    assert accuracy[0] < 0.6 and accuracy[10] >= 0.93  # random phases, then synchronised by coupling
    assert (base[0].argmax(-1) == labels).float().mean() >= 0.97


def test_kuramotos_base_is_the_same_network_without_coupling() -> None:
    variant = load_state_dict(weights_path(get_model_spec("digits-kuramoto")))
    base = load_state_dict(weights_path(get_model_spec("digits-kuramoto-base")))
    assert set(variant) - set(base) == {"coupling"}
    assert all(torch.equal(variant[key], base[key]) for key in base)
    net = KuramotoNet(coupling=False)
    net.load_state_dict(base)
    x = Normalize((0.5,) * 3, (0.5,) * 3)(load_digits_split("test").tensor()[:8])
    with torch.no_grad():
        a = net.amplitude(x)
        assert torch.equal(net(x), net._read(a, torch.zeros_like(a)))  # phases 0: |V * a|


def test_shipped_weights_match_their_specs_and_cards_cite_the_papers() -> None:
    for name in (*RECURRENT, "digits-kuramoto-base"):
        spec = get_model_spec(name)
        path = weights_path(spec)
        assert path.parent == WEIGHTS_DIR and spec.weights.startswith("pcbench:")
        assert hash_file(path) == spec.weights_sha256
    hgru, kuramoto = (format_model_card(name) for name in RECURRENT)
    assert "Linsley" in hgru and "simplified" in hgru and "(the whole network)" in hgru
    assert "Kuramoto" in kuramoto and "Muzellec" in kuramoto and "random initial phases" in kuramoto


def test_a_recurrent_variant_needs_a_base_and_its_own_arch_and_round_trips_a_model_file(tmp_path: Path) -> None:
    arch = "pcbench.models.dynamics:digits_hgru"
    with pytest.raises(PcbenchError, match="a recurrent variant needs 'base'"):
        ModelSpec(name="r", variant="recurrent", arch=arch, timesteps=2)
    with pytest.raises(PcbenchError, match="a recurrent variant needs 'base'"):
        ModelSpec(name="r", variant="recurrent", base="digits-cnn", timesteps=2)
    with pytest.raises(PcbenchError, match="timesteps = 0 must be >= 1 for a recurrent variant"):
        ModelSpec(name="r", variant="recurrent", base="digits-cnn", arch=arch)
    path = tmp_path / "models.toml"
    path.write_text(
        textwrap.dedent(f"""
        [models.my-hgru]
        variant = "recurrent"
        base = "digits-cnn"
        arch = "{arch}"
        timesteps = 2
    """)
    )
    (spec,) = read_spec_file(path)
    assert (spec.variant, spec.base, spec.arch, spec.timesteps) == ("recurrent", "digits-cnn", arch, 2)
    assert spec_to_table(spec) == {
        "variant": "recurrent",
        "timesteps": 2,
        "base": "digits-cnn",
        "arch": arch,
        "arch_kwargs": {},
    }


def test_the_recipe_reaches_the_documented_accuracy(tmp_path: Path) -> None:
    """Retraining as the shipped files were made (about 40 s on one core) reaches their
    accuracy; on the machine that made them it wrote the same bytes twice (the SHA-256 in
    the specs), which other CPUs' kernels need not repeat, so it is not asserted."""
    files = train_reference_dynamics(tmp_path, weights_path(get_model_spec("digits-cnn")))
    data = load_digits_split("test")
    x, labels = Normalize((0.5,) * 3, (0.5,) * 3)(data.tensor()), torch.from_numpy(data.labels)
    hgru, kuramoto, base = HGRUNet(), KuramotoNet(), KuramotoNet(coupling=False)
    for net, name in ((hgru, "digits-hgru"), (kuramoto, "digits-kuramoto"), (base, "digits-kuramoto-base")):
        net.load_state_dict(load_state_dict(files[name]))
        net.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        accuracy = {
            name: (net(x).argmax(-1) == labels).float().mean(dim=-1)
            for name, net in (("hgru", hgru), ("kuramoto", kuramoto), ("base", base))
        }
    assert accuracy["hgru"].min() >= 0.975 and accuracy["base"] >= 0.975
    assert accuracy["kuramoto"][-1] >= 0.93 and accuracy["kuramoto"][0] < 0.6


EVALUATE_SUITE = """name = "mine"
models = ["digits-cnn"]
timesteps = [0, 2]
[dataset]
name = "digits"
split = "test"
limit = 20
"""


def test_an_evaluated_module_that_is_not_pc_is_a_recurrent_variant_of_its_base(tmp_path: Path) -> None:
    suite = tmp_path / "mine.toml"
    suite.write_text(EVALUATE_SUITE)
    net = HGRUNet(timesteps=2)
    net.load_state_dict(load_state_dict(weights_path(get_model_spec("digits-hgru"))))
    result = pcbench.evaluate(
        net,
        suite,
        name="my-hgru",
        base="digits-cnn",
        mean=(0.5,) * 3,
        std=(0.5,) * 3,
        results=tmp_path / "r",
        workers=1,
    )
    row = result.summary.set_index("model").loc["my-hgru"]
    assert (row["variant"], row["base"]) == ("recurrent", "digits-cnn")
    assert row["delta_clean_acc:t0"] == 0.0  # H2[0] = X: timestep 0 is digits-cnn


def test_the_dynamics_suite_pairs_every_dynamic_model_with_its_base_and_attacks_with_eot_and_at_each_timestep() -> None:
    from pcbench.suite import load_suite

    suite = load_suite("dynamics")
    models = [get_model_spec(name) for name in suite.models]
    assert {spec.base for spec in models if spec.variant != "feedforward"} <= set(suite.models)
    assert [spec.name for spec in models if spec.variant != "feedforward"] == [
        "digits-pcnn",
        "digits-hgru",
        "digits-kuramoto",
    ]
    assert suite.draws == 2
    assert [attack.label for attack in suite.attacks] == [
        "pgd-linf-n30",
        "pgd-linf-n30-eot4",
        "pgd-linf-n30-each",
        "apgd-ce-linf-i20-n10",
        "apgd-ce-linf-i20-n10-eot4",
    ]
