"""Benchmark suite schema: the frozen dataclasses of a validated suite and its constants.

A suite says which models to evaluate, on which data set, at which timesteps, under
which corruptions and attacks. :func:`pcbench.suite.tables.parse_suite` validates a suite
file's tables (pydantic) and builds the :class:`Suite` defined here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pcbench.errors import PcbenchError
from pcbench.hashing import hash_json

#: Attack kinds run through foolbox 3.
FOOLBOX_KINDS = ("fgsm", "pgd-linf", "pgd-l2", "bim-linf")
#: Attack kinds run through AutoAttack (pyautoattack): the ensemble and its single attacks.
AUTOATTACK_KINDS = ("autoattack", "apgd-ce", "apgd-dlr", "apgd-t", "fab-t", "square")
ATTACK_KINDS = FOOLBOX_KINDS + AUTOATTACK_KINDS
#: The norm each foolbox kind bounds its perturbation in (its threat model, with ε); an
#: AutoAttack kind's norm is its ``norm`` key (``AUTOATTACK_NORMS``, lower-cased here).
ATTACK_NORMS = {"fgsm": "linf", "pgd-linf": "linf", "pgd-l2": "l2", "bim-linf": "linf"}
AUTOATTACK_NORMS = ("Linf", "L2")
#: AutoAttack's sub-attacks (pyautoattack's names) and the ones each version runs, in order.
AUTOATTACK_ATTACKS = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")
AUTOATTACK_VERSIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
        "plus": ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"),
        "custom": (),  # the sub-attacks come from the ``attacks`` key
        "rand": ("apgd-ce", "apgd-dlr"),  # for randomised defenses: EOT over RAND_EOT draws
    }
)
#: Draws over which AutoAttack's ``rand`` version averages each APGD gradient (its ``eot_iter``).
RAND_EOT = 20
#: Attack kinds that take ``eot`` (their gradients can be averaged over draws): foolbox's and APGD's.
EOT_KINDS = (*FOOLBOX_KINDS, "autoattack", "apgd-ce", "apgd-dlr", "apgd-t")
GRADIENT_MODES = ("full", "detached")
ATTACK_TIMESTEPS = ("last", "each", "first", "mean", "sum")
SEVERITIES = (1, 2, 3, 4, 5)
CORRUPTION_SOURCES = ("generated", "precomputed")
#: Data sets with a canonical precomputed corruption set, and that set's name.
PRECOMPUTED_SETS: Mapping[str, str] = MappingProxyType(
    {"cifar10": "CIFAR-10-C", "cifar100": "CIFAR-100-C", "imagenet": "ImageNet-C"}
)

#: Data sets a suite may name, mapped to whether they need ``dataset.root``.
DEFAULT_DATASETS: Mapping[str, bool] = MappingProxyType(
    {"digits": False, "cifar10": True, "cifar100": True, "imagenet": True, "imagefolder": True}
)

#: AutoAttack settings a suite may override (``None`` in :class:`AttackConfig` keeps the
#: standard version's), with the label prefix that records each: ``-i100``, ``-r5``, ...
AUTOATTACK_OVERRIDES: Mapping[str, str] = MappingProxyType(
    {"n_iter": "i", "n_restarts": "r", "n_queries": "q", "n_target_classes": "c"}
)
#: The samples an AutoAttack kind attacks at once (its ``batch_size`` key), unless the suite
#: says otherwise: ``pcbench run --batch-size``'s default. A sample's adversarial image can
#: depend on its batch companions (:mod:`pcbench.perturbations.autoattack`), so the batch size
#: is a suite setting, part of the attack's ``params()`` and so of its cells' keys.
AUTOATTACK_BATCH_SIZE = 128
#: Each sub-attack's settings as AutoAttack's standard version runs it (pyautoattack 0.2.0, L∞
#: and L2); pcbench applies them, so the recorded ``attack_params`` are what ran. The plus
#: version differs only in :data:`_PLUS_RESTARTS`.
_SUB_ATTACK_SETTINGS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "apgd-ce": {"loss": "ce", "n_iter": 100, "n_restarts": 1, "eot_iter": 1, "rho": 0.75},
        "apgd-dlr": {"loss": "dlr", "n_iter": 100, "n_restarts": 1, "eot_iter": 1, "rho": 0.75},
        "apgd-t": {
            "loss": "dlr-targeted",
            "n_iter": 100,
            "n_restarts": 1,
            "n_target_classes": 9,
            "eot_iter": 1,
            "rho": 0.75,
        },
        "fab": {"n_iter": 100, "n_restarts": 1, "alpha_max": 0.1, "eta": 1.05, "beta": 0.9},
        "fab-t": {"n_iter": 100, "n_restarts": 1, "n_target_classes": 9, "alpha_max": 0.1, "eta": 1.05, "beta": 0.9},
        "square": {"loss": "margin", "n_queries": 5000, "n_restarts": 1, "p_init": 0.8, "resc_schedule": False},
    }
)
_PLUS_RESTARTS = MappingProxyType({"apgd-ce": 5, "apgd-dlr": 5, "fab": 5})
#: Settings AutoAttack sets itself while it runs, which no override changes.
_FORCED = frozenset({("fab-t", "n_restarts")})
_AUTOATTACK_FIELDS = ("norm", "version", "sub_attacks", *AUTOATTACK_OVERRIDES)
#: What an attack's ``samples`` may be: every sample, or those correct at every timestep.
ATTACK_SAMPLES = ("all", "correct")


@dataclass(frozen=True)
class DatasetConfig:
    """The evaluation data: a known data set, its split, where it lives and which subset.

    ``root`` is an absolute path (``None`` when the data set needs none); ``limit`` keeps
    a random subset of that many samples drawn with ``seed`` (``None`` keeps them all).
    """

    name: str
    split: str = "test"
    root: Path | None = None
    limit: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class CorruptionConfig:
    """The image corruptions (``imagecorruptions`` names) and severities (1..5) to apply.

    ``source`` is ``"generated"`` (imagecorruptions, on the fly, cached) or
    ``"precomputed"`` (the canonical -C files under ``root``, an absolute path).
    """

    names: tuple[str, ...]
    severities: tuple[int, ...]
    source: str = "generated"
    root: Path | None = None


@dataclass(frozen=True)
class AttackConfig:
    """One adversarial attack evaluated at each of its ``epsilons``.

    ``target_offset`` makes the attack targeted at class ``(y + target_offset) mod
    classes``; ``gradient_mode`` says whether gradients flow through the recurrent
    feedback (``"full"``) or not (``"detached"``); ``attack_timestep`` says which
    timestep's output the attack's loss uses.

    AutoAttack kinds (:data:`AUTOATTACK_KINDS`) also have a ``norm`` (``"Linf"`` or
    ``"L2"``), their ``sub_attacks`` in run order (``version`` for ``autoattack``) and
    optional overrides of the standard version's settings (:data:`AUTOATTACK_OVERRIDES`:
    ``n_iter``, ``n_restarts``, ``n_queries``, ``n_target_classes``; ``None`` keeps them),
    applied to every sub-attack that has the setting. Their ``steps`` is derived: the most
    gradient passes a sample can cost (Square's queries count a third), for the ETA.

    ``limit`` attacks only a seeded, class-stratified subset of that many samples of the
    evaluation set (:meth:`pcbench.data.ImageSet.subset` with the suite's seed; the whole set
    when it is smaller): for attacks too costly to run on every sample. Its rows have
    ``n = limit``, and a best-known robust accuracy counts each sample as robust when no
    attack tried *on it* broke it.

    ``samples = "correct"`` (Predify's protocol) attacks only the samples the model
    classifies correctly on clean images at every timestep it is evaluated at (before any
    ``limit`` subset is drawn from them); the set then depends on the model, its rows' ``n``
    says how many there were and ``subset_hash`` which, and the label gets ``-correct``.
    ``"all"`` (the default) attacks every sample.

    ``eot`` (Expectation over Transformation, for stochastic models) averages every gradient
    the attack takes over that many forward passes (draws of the model's randomness): for
    foolbox kinds the loss is averaged over ``eot`` forwards per step, for APGD (alone or in
    an ensemble) it is AutoAttack's ``eot_iter``; FAB and Square take none. The label gets
    ``-eot<n>``; AutoAttack's ``rand`` version defaults to :data:`RAND_EOT`.

    ``batch_size`` (AutoAttack kinds only; ``None`` for foolbox kinds, whose images do not
    depend on their batch and which batch by ``pcbench run --batch-size``) is how many samples
    one AutoAttack run attacks at once (default :data:`AUTOATTACK_BATCH_SIZE`). A sample's
    image can depend on its batch companions, so it is in :meth:`params` (the cells' keys and
    ``attack_params``) and a non-default value adds ``-b<batch_size>`` to the label.
    """

    kind: str
    epsilons: tuple[float, ...]
    steps: int
    rel_stepsize: float | None
    random_start: bool
    target_offset: int | None = None
    gradient_mode: str = "full"
    attack_timestep: str = "last"
    norm: str | None = None
    version: str | None = None
    sub_attacks: tuple[str, ...] = ()
    n_restarts: int | None = None
    n_queries: int | None = None
    n_target_classes: int | None = None
    limit: int | None = None
    n_iter: int | None = None
    samples: str = "all"
    eot: int = 1
    batch_size: int | None = None

    @property
    def label(self) -> str:
        """Label used in file names and leaderboards, e.g. ``bim-linf-t800``, ``fgsm-detached``,
        ``autoattack-linf``, ``square-l2-sum``, ``square-linf-q1000-n40``, ``apgd-ce-linf-i10``:
        overridden AutoAttack settings add ``-i<n_iter>``, ``-r<n_restarts>``, ``-q<n_queries>``,
        ``-c<n_target_classes>`` (:data:`AUTOATTACK_OVERRIDES`), a non-default AutoAttack
        ``batch_size`` adds ``-b<batch_size>`` and an attack ``limit`` adds ``-n<limit>``, so
        entries that differ only there never share a label."""
        label = self.kind
        if self.version not in (None, "standard"):
            label += f"-{self.version}"
        if self.norm is not None:
            label += f"-{self.norm.lower()}"
        for name, prefix in AUTOATTACK_OVERRIDES.items():
            value = getattr(self, name)
            if value is not None:
                label += f"-{prefix}{value}"
        if self.batch_size not in (None, AUTOATTACK_BATCH_SIZE):
            label += f"-b{self.batch_size}"
        if self.limit is not None:
            label += f"-n{self.limit}"
        if self.target_offset is not None:
            label += f"-t{self.target_offset}"
        if self.gradient_mode == "detached":
            label += "-detached"
        if self.attack_timestep != "last":
            label += f"-{self.attack_timestep}"
        if self.samples != "all":
            label += f"-{self.samples}"
        if self.eot != 1:
            label += f"-eot{self.eot}"
        return label

    def params(self) -> dict[str, Any]:
        """Every setting except the epsilons, as a JSON-able dict (for cache keys); for an
        AutoAttack kind also ``autoattack``: its version, norm, sub-attacks and their settings."""
        params = dataclasses.asdict(self)
        del params["epsilons"]
        for name in _AUTOATTACK_FIELDS:
            del params[name]
        if self.limit is None:
            del params["limit"]  # absent, not null: cell keys of attacks without a limit stay as they were
        if self.samples == "all":
            del params["samples"]  # absent by default: cell keys of attacks on every sample stay as they were
        if self.eot == 1:
            del params["eot"]  # absent with one draw: cell keys of attacks without EOT stay as they were
        if self.batch_size is None:
            del params["batch_size"]  # foolbox kinds: their images do not depend on the batch; keys unchanged
        if self.kind in AUTOATTACK_KINDS:
            params["autoattack"] = {
                "version": self.version or "custom",
                "norm": self.norm,
                "attacks": list(self.sub_attacks),
                "settings": self.sub_attack_settings(),
            }
        return params

    def sub_attack_settings(self) -> dict[str, dict[str, Any]]:
        """AutoAttack sub-attack -> the settings it runs with (empty for foolbox kinds): the
        standard version's, the plus version's restarts, then each override the sub-attack has
        (an ensemble's ``n_queries`` reaches Square only, its ``n_restarts`` not FAB-T), and
        ``eot`` as APGD's ``eot_iter``."""
        settings = {}
        for attack in self.sub_attacks:
            values = dict(_SUB_ATTACK_SETTINGS[attack])
            if self.version == "plus" and attack in _PLUS_RESTARTS:
                values["n_restarts"] = _PLUS_RESTARTS[attack]
            for name in AUTOATTACK_OVERRIDES:
                value = getattr(self, name)
                if value is not None and name in values and (attack, name) not in _FORCED:
                    values[name] = value
            if "eot_iter" in values:
                values["eot_iter"] = self.eot
            settings[attack] = values
        return settings


def attack_label_norm(label: str) -> str:
    """The norm (``linf`` or ``l2``) of the attack behind a label made by :attr:`AttackConfig.label`."""
    norms = {norm.lower() for norm in AUTOATTACK_NORMS}
    for kind in sorted(ATTACK_KINDS, key=len, reverse=True):
        if label == kind or label.startswith(f"{kind}-"):
            if kind in ATTACK_NORMS:
                return ATTACK_NORMS[kind]
            norm = next((part for part in label.removeprefix(kind).split("-") if part in norms), None)
            if norm is not None:
                return norm
            break
    raise PcbenchError(
        f"attack label {label!r} does not start with a known kind ({', '.join(ATTACK_KINDS)}) followed by its norm"
    )


@dataclass(frozen=True)
class Suite:
    """A validated benchmark suite.

    ``path`` is the file it was loaded from (``None`` when parsed from a dict);
    ``timesteps`` is ``None`` for each model's default; ``content_hash`` hashes every
    other field except ``path``, so it identifies what the suite evaluates.

    ``draws`` (default 1): how many times each cell of a *stochastic* model (one whose
    outputs differ between two forwards of the same batch, :mod:`pcbench.runner.stochastic`)
    is evaluated, each draw with its own seeds; deterministic models are evaluated once.
    """

    name: str
    description: str
    path: Path | None
    seed: int
    models: tuple[str, ...]
    timesteps: tuple[int, ...] | None
    clean: bool
    dataset: DatasetConfig
    corruptions: CorruptionConfig | None
    attacks: tuple[AttackConfig, ...]
    content_hash: str
    draws: int = 1


def with_content_hash(suite: Suite) -> Suite:
    """``suite`` with ``content_hash`` computed from every field but ``path``."""
    content = dataclasses.asdict(suite)
    del content["path"], content["content_hash"]
    if suite.draws == 1:
        del content["draws"]  # absent by default: the hashes of suites without draws stay as they were
    content["attacks"] = [{"epsilons": list(attack.epsilons), **attack.params()} for attack in suite.attacks]
    root = suite.dataset.root
    content["dataset"]["root"] = None if root is None else str(root)
    return dataclasses.replace(suite, content_hash=hash_json(content))
