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
    An iterative L∞ attack (``pgd-linf`` or ``bim-linf``, untargeted) leaves more correct
    samples than FGSM at the same ε (same gradient mode and attack timestep).
``flag_not_monotonic_in_epsilon``
    For some attack, accuracy rises with ε.
``flag_large_epsilon_not_zero``
    An iterative L∞ attack at ε ≥ :data:`LARGE_LINF_EPSILON` leaves accuracy above
    :data:`NEAR_ZERO_ACCURACY` (such a budget can turn any image into any other).
``flag_whitebox_weaker_than_transfer``
    PC variants, at timesteps after 0: the white-box attack through the unroll leaves more
    correct samples than the same attack on the feedforward pass (``attack_timestep =
    "first"``, i.e. transferred from the feedforward base, whose timestep-0 network it
    shares exactly), evaluated at the same timestep.
``flag_gradient_free_beats_whitebox``
    The gradient-free attack (``square``, which only queries the model's outputs) leaves
    fewer correct samples than the best gradient-based attack (every other kind, except an
    ``autoattack`` ensemble that runs Square itself) at the same norm and ε: the gradients
    mislead the white-box attacks.

Comparisons allow a slack of one sample (random starts make equal-strength attacks differ
by a sample or so).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pcbench.suite.schema import attack_label_norm

LARGE_LINF_EPSILON = 0.5
NEAR_ZERO_ACCURACY = 0.05
ITERATIVE_LINF = ("pgd-linf", "bim-linf")
GRADIENT_FREE = "square"
FLAGS = (
    "flag_iterative_weaker_than_fgsm",
    "flag_not_monotonic_in_epsilon",
    "flag_large_epsilon_not_zero",
    "flag_whitebox_weaker_than_transfer",
    "flag_gradient_free_beats_whitebox",
)


def masking_flags(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, timestep) that has attack cells: ``model``, ``timestep``, flags."""
    attacks = _attack_rows(scores)
    rows = []
    for (model, timestep), group in attacks.groupby(["model", "timestep"], sort=False):
        slack = 1.0 / group["n"].min()
        whitebox = group[group["whitebox"]]
        rows.append(
            {
                "model": model,
                "timestep": timestep,
                FLAGS[0]: _iterative_weaker(whitebox, slack),
                FLAGS[1]: _not_monotonic(whitebox, slack),
                FLAGS[2]: _large_epsilon_not_zero(whitebox),
                FLAGS[3]: _whitebox_weaker(whitebox, group, slack),
                FLAGS[4]: _gradient_free_beats(whitebox, slack),
            }
        )
    table = pd.DataFrame(rows, columns=["model", "timestep", *FLAGS])
    return table.astype({flag: "boolean" for flag in FLAGS})


def _attack_rows(scores: pd.DataFrame) -> pd.DataFrame:
    attacks = scores[scores["perturbation"] == "attack"].copy()
    params = attacks["attack_params"].map(json.loads)
    attacks["kind"] = params.map(lambda p: p["kind"])
    attacks["targeted"] = params.map(lambda p: p.get("target_offset") is not None)
    attacks["attack_timestep"] = params.map(lambda p: p.get("attack_timestep", "last"))
    attacks["gradient_mode"] = params.map(lambda p: p.get("gradient_mode", "full"))
    attacks["runs_square"] = params.map(lambda p: GRADIENT_FREE in p.get("autoattack", {}).get("attacks", []))
    attacks["norm"] = attacks["attack"].map(attack_label_norm)
    last = attacks.groupby("model")["timestep"].transform("max")
    target = attacks["attack_timestep"]
    attacks["whitebox"] = (
        ((target == "last") & (attacks["timestep"] == last))
        | ((target == "first") & (attacks["timestep"] == 0))
        | (target == "each")
    )
    return attacks[~attacks["targeted"]]


def _iterative_weaker(group: pd.DataFrame, slack: float) -> bool | None:
    fgsm = group[group["kind"] == "fgsm"]
    iterative = group[group["kind"].isin(ITERATIVE_LINF)]
    return _exceeds(iterative, fgsm, ["epsilon", "gradient_mode", "attack_timestep"], slack)


def _not_monotonic(group: pd.DataFrame, slack: float) -> bool | None:
    verdicts = [
        bool((np.diff(attack.sort_values("epsilon")["accuracy"].to_numpy()) > slack).any())
        for _, attack in group.groupby("attack")
        if attack["epsilon"].nunique() > 1
    ]
    return any(verdicts) if verdicts else None


def _large_epsilon_not_zero(group: pd.DataFrame) -> bool | None:
    large = group[group["kind"].isin(ITERATIVE_LINF) & (group["epsilon"] >= LARGE_LINF_EPSILON)]
    return None if large.empty else bool((large["accuracy"] > NEAR_ZERO_ACCURACY).any())


def _whitebox_weaker(whitebox: pd.DataFrame, group: pd.DataFrame, slack: float) -> bool | None:
    """``whitebox``: the white-box cells of ``group`` (one model and timestep)."""
    if (group["variant"] != "pc").all():
        return None
    through_unroll = whitebox[whitebox["attack_timestep"] != "first"]
    transfer = group[group["attack_timestep"] == "first"]
    return _exceeds(through_unroll, transfer, ["kind", "epsilon", "gradient_mode"], slack)


def _gradient_free_beats(whitebox: pd.DataFrame, slack: float) -> bool | None:
    """Whether Square leaves fewer correct samples than the best gradient-based attack at some
    (norm, ε); ``whitebox``: the cells attacking this timestep (one model)."""
    keys = ["norm", "epsilon"]
    free = whitebox[whitebox["kind"] == GRADIENT_FREE].groupby(keys)["accuracy"].min()
    gradient = whitebox[~whitebox["runs_square"]].groupby(keys)["accuracy"].min()
    both = pd.concat({"free": free, "gradient": gradient}, axis=1).dropna()
    return None if both.empty else bool((both["gradient"] - both["free"] > slack).any())


def _exceeds(stronger: pd.DataFrame, weaker: pd.DataFrame, keys: list[str], slack: float) -> bool | None:
    """Whether ``stronger`` (expected to be the stronger attack) leaves higher accuracy."""
    pairs = stronger[[*keys, "accuracy"]].merge(weaker[[*keys, "accuracy"]], on=keys, suffixes=("", "_other"))
    if pairs.empty:
        return None
    return bool((pairs["accuracy"] - pairs["accuracy_other"] > slack).any())
