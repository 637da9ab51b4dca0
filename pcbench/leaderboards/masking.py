"""Self-checks against gradient masking, computed from stored scores (Carlini et al. 2019).

For every model and timestep, each flag is ``True`` when the check *fails* (a warning sign
that the attack was hindered by the model, not that the model is robust), ``False`` when
it passes and missing (``NA``) when the suite has no cells to check it with.

The checks are about white-box attacks, so at each timestep they read only the attack cells
that were white-box *for that timestep*: ``attack_timestep = "last"`` at the model's last
timestep, ``"first"`` at timestep 0, ``"each"`` at every timestep (``"mean"`` and ``"sum"``
attack the mean of the logits or all timesteps at once, no single timestep, and are never
read). Elsewhere an attack is a
transfer from another timestep, and a transferred iterative attack may fairly be weaker
than a transferred FGSM or than the white-box attack on that timestep.

``flag_iterative_weaker_than_fgsm``
    An iterative L∞ gradient attack (``pgd-linf``, ``bim-linf``, and at ``norm = "Linf"``
    ``apgd-ce``, ``apgd-dlr``, ``apgd-t`` and the ``autoattack`` ensemble; untargeted)
    leaves more correct samples than FGSM at the same ε (same gradient mode and attack
    timestep).
``flag_not_monotonic_in_epsilon``
    For some attack, accuracy rises with ε.
``flag_large_epsilon_not_zero``
    One of those iterative L∞ attacks at ε ≥ :data:`LARGE_LINF_EPSILON` leaves accuracy above
    :data:`NEAR_ZERO_ACCURACY` (such a budget can turn any image into any other).
``flag_whitebox_weaker_than_transfer``
    Dynamic variants (PC, recurrent), at timesteps after 0: the white-box attack through the
    unroll leaves more correct samples than the same attack on timestep 0 (``attack_timestep
    = "first"``; for a PC variant, transferred from the feedforward base, whose timestep-0
    network it shares exactly), evaluated at the same timestep.
``flag_gradient_free_beats_whitebox``
    The gradient-free attack (``square``, which only queries the model's outputs) leaves
    fewer correct samples than the best gradient-based attack (every other kind, except an
    ``autoattack`` ensemble that runs Square itself) at the same norm and ε: the gradients
    mislead the white-box attacks.
``flag_eot_beats_one_draw``
    An attack with Expectation over Transformation (``eot`` > 1: each gradient averaged over
    that many draws of a stochastic model's randomness) leaves fewer correct samples than the
    same attack with one draw (every setting equal but ``eot``, and for AutoAttack kinds the
    version, e.g. ``rand`` against ``custom`` with the same sub-attacks): single draws' gradients
    were masked by the randomness, so one-draw robust accuracies of the model overestimate it.
    A deterministic model's EOT attack runs one draw (n equal gradients average to it), so
    it never fires there.

Comparisons count correct samples and allow a slack of one (random starts make equal-strength attacks differ
by a sample or so), and compare only cells of the same samples (the same ``subset_hash``, the
hash of the evaluated sample ids): an attack with a ``limit`` attacks a seeded subset, so its
cells are compared only with cells of that subset.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pcbench.suite.schema import attack_label_norm

LARGE_LINF_EPSILON = 0.5
NEAR_ZERO_ACCURACY = 0.05
#: Iterative gradient attacks, checked where their norm is L∞ (foolbox kinds carry it in the kind).
ITERATIVE_LINF = ("pgd-linf", "bim-linf", "apgd-ce", "apgd-dlr", "apgd-t", "autoattack")
GRADIENT_FREE = "square"
#: Correct samples by which the expected-stronger attack may trail (random starts).
SLACK_SAMPLES = 1
FLAGS = (
    "flag_iterative_weaker_than_fgsm",
    "flag_not_monotonic_in_epsilon",
    "flag_large_epsilon_not_zero",
    "flag_whitebox_weaker_than_transfer",
    "flag_gradient_free_beats_whitebox",
    "flag_eot_beats_one_draw",
)


def masking_flags(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, timestep) that has attack cells: ``model``, ``timestep``, flags."""
    attacks = _attack_rows(scores)
    rows = []
    for (model, timestep), group in attacks.groupby(["model", "timestep"], sort=False):
        whitebox = group[group["whitebox"]]
        rows.append(
            {
                "model": model,
                "timestep": timestep,
                FLAGS[0]: _iterative_weaker(whitebox),
                FLAGS[1]: _not_monotonic(whitebox),
                FLAGS[2]: _large_epsilon_not_zero(whitebox),
                FLAGS[3]: _whitebox_weaker(whitebox, group),
                FLAGS[4]: _gradient_free_beats(whitebox),
                FLAGS[5]: _eot_beats_one_draw(whitebox),
            }
        )
    table = pd.DataFrame(rows, columns=["model", "timestep", *FLAGS])
    return table.astype({flag: "boolean" for flag in FLAGS})


def autoattack_warnings(scores: pd.DataFrame) -> pd.Series | None:
    """Model -> the distinct warnings of AutoAttack's own checks (dynamic or randomised
    defense, zero gradients, ...) over its stored cells, joined by ``" | "`` (``""`` when
    there were none); NA for a model whose AutoAttack cells were all stored before warnings
    were recorded; None when no AutoAttack cell is stored."""
    attacks = scores[scores["perturbation"] == "attack"]
    autoattack = attacks[attacks["attack_params"].map(lambda p: "autoattack" in json.loads(p))]
    if autoattack.empty:
        return None
    cells = autoattack.drop_duplicates("cell_key").dropna(subset=["attack_warnings"])
    messages = cells["attack_warnings"].map(json.loads).groupby(cells["model"], sort=False).sum()
    return messages.map(lambda found: " | ".join(dict.fromkeys(found)))


def stochastic_models(scores: pd.DataFrame) -> pd.Series | None:
    """Model -> whether it was found stochastic (:mod:`pcbench.runner.stochastic`) in any of
    its stored cells (NA for a model whose cells were all stored before models were checked);
    None when no model is stochastic, so suites of deterministic models keep their columns.

    Example::

        stochastic_models(read_scores(root))  # e.g. digits-kuramoto -> True, digits-cnn -> False
    """
    if "stochastic" not in scores.columns:
        return None
    found = scores["stochastic"].astype("boolean")
    if not found.fillna(False).any():
        return None
    return found.groupby(scores["model"], sort=False).agg(lambda cells: cells.any() if cells.notna().any() else pd.NA)


def _attack_rows(scores: pd.DataFrame) -> pd.DataFrame:
    attacks = scores[scores["perturbation"] == "attack"].copy()
    params = attacks["attack_params"].map(json.loads)
    attacks["kind"] = params.map(lambda p: p["kind"])
    attacks["targeted"] = params.map(lambda p: p.get("target_offset") is not None)
    attacks["attack_timestep"] = params.map(lambda p: p.get("attack_timestep", "last"))
    attacks["gradient_mode"] = params.map(lambda p: p.get("gradient_mode", "full"))
    attacks["runs_square"] = params.map(lambda p: GRADIENT_FREE in p.get("autoattack", {}).get("attacks", []))
    attacks["norm"] = attacks["attack"].map(attack_label_norm)
    attacks["eot"] = params.map(lambda p: p.get("eot", 1))
    attacks["one_draw"] = params.map(_one_draw)
    last = attacks.groupby("model")["timestep"].transform("max")
    target = attacks["attack_timestep"]
    attacks["whitebox"] = (
        ((target == "last") & (attacks["timestep"] == last))
        | ((target == "first") & (attacks["timestep"] == 0))
        | (target == "each")
    )
    return attacks[~attacks["targeted"]]


def _iterative_weaker(group: pd.DataFrame) -> bool | None:
    fgsm = group[group["kind"] == "fgsm"]
    iterative = group[_iterative_linf(group)]
    return _exceeds(iterative, fgsm, ["subset_hash", "epsilon", "gradient_mode", "attack_timestep"])


def _not_monotonic(group: pd.DataFrame) -> bool | None:
    verdicts = [
        bool((np.diff(attack.sort_values("epsilon")["correct"].to_numpy()) > SLACK_SAMPLES).any())
        for _, attack in group.groupby("attack")
        if attack["epsilon"].nunique() > 1
    ]
    return any(verdicts) if verdicts else None


def _large_epsilon_not_zero(group: pd.DataFrame) -> bool | None:
    large = group[_iterative_linf(group) & (group["epsilon"] >= LARGE_LINF_EPSILON)]
    return None if large.empty else bool((large["accuracy"] > NEAR_ZERO_ACCURACY).any())


def _whitebox_weaker(whitebox: pd.DataFrame, group: pd.DataFrame) -> bool | None:
    """``whitebox``: the white-box cells of ``group`` (one model and timestep)."""
    if (group["variant"] == "feedforward").all():
        return None
    through_unroll = whitebox[whitebox["attack_timestep"] != "first"]
    transfer = group[group["attack_timestep"] == "first"]
    return _exceeds(through_unroll, transfer, ["subset_hash", "kind", "epsilon", "gradient_mode"])


def _gradient_free_beats(whitebox: pd.DataFrame) -> bool | None:
    """Whether Square leaves fewer correct samples than the best gradient-based attack at some
    (norm, ε); ``whitebox``: the cells attacking this timestep (one model)."""
    keys = ["subset_hash", "norm", "epsilon"]
    free = whitebox[whitebox["kind"] == GRADIENT_FREE].groupby(keys)["correct"].min()
    gradient = whitebox[~whitebox["runs_square"]].groupby(keys)["correct"].min()
    both = pd.concat({"free": free, "gradient": gradient}, axis=1).dropna()
    return None if both.empty else bool((both["gradient"] - both["free"] > SLACK_SAMPLES).any())


def _eot_beats_one_draw(whitebox: pd.DataFrame) -> bool | None:
    """Whether an EOT attack leaves fewer correct samples than the same attack with one draw
    (``whitebox``: the cells attacking this timestep, one model)."""
    keys = ["subset_hash", "epsilon", "one_draw"]
    return _exceeds(whitebox[whitebox["eot"] == 1], whitebox[whitebox["eot"] > 1], keys)


def _one_draw(params: dict) -> str:
    """An attack's ``attack_params`` as they would be with one draw (JSON): without ``eot``,
    every sub-attack's ``eot_iter`` 1 and no AutoAttack version (the sub-attacks say what ran)."""
    one = {name: value for name, value in params.items() if name != "eot"}
    if "autoattack" in one:
        settings = one["autoattack"].get("settings", {})
        one["autoattack"] = {
            **{name: value for name, value in one["autoattack"].items() if name != "version"},
            "settings": {
                attack: {**values, "eot_iter": 1} if "eot_iter" in values else values
                for attack, values in settings.items()
            },
        }
    return json.dumps(one, sort_keys=True)


def _iterative_linf(group: pd.DataFrame) -> pd.Series:
    """Rows of iterative L∞ gradient attacks (:data:`ITERATIVE_LINF`)."""
    return group["kind"].isin(ITERATIVE_LINF) & (group["norm"] == "linf")


def _exceeds(stronger: pd.DataFrame, weaker: pd.DataFrame, keys: list[str]) -> bool | None:
    """Whether ``stronger`` (expected to be the stronger attack) leaves more correct samples
    (``keys`` include ``subset_hash``, so both count the same samples)."""
    pairs = stronger[[*keys, "correct"]].merge(weaker[[*keys, "correct"]], on=keys, suffixes=("", "_other"))
    if pairs.empty:
        return None
    return bool((pairs["correct"] - pairs["correct_other"] > SLACK_SAMPLES).any())
