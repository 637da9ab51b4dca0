"""pcbench's public Python API: everything the ``pcbench`` command does, one call each.

The command line (:mod:`pcbench.cli`) is a thin layer over these functions, so a notebook
gets the same numbers as a shell::

    import pcbench

    pcbench.list_models("digits-*", variant="pc")        # ['digits-pcnn']
    model = pcbench.load_model("digits-pcnn")             # logits [T + 1, B, classes]
    summary = pcbench.run("quick", limit=50, results="results-50", leaderboards=None)
    board = pcbench.leaderboard("quick", results=["results-50"])
    board.summary                                         # one row per model

Every function raises :class:`pcbench.PcbenchError` with one readable line for bad input.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pcbench.errors import PcbenchError
from pcbench.executors.options import Executor, ExecutorOptions
from pcbench.models.precision import Precision
from pcbench.names import check_name
from pcbench.registry import get_model_spec, list_model_specs
from pcbench.registry.spec import PAPER_ALPHA, PAPER_BETA, PAPER_LAMBDA, VARIANTS, ModelSpec, Variant

if TYPE_CHECKING:  # heavy imports (torch, pandas) stay out of ``import pcbench``
    import pandas as pd
    import torch
    from torch import nn

    from pcbench.array_cache import CacheUsage, Cleared
    from pcbench.executors.status import RunStatus
    from pcbench.leaderboards.board import Leaderboard
    from pcbench.leaderboards.merge import OnConflict, Results
    from pcbench.leaderboards.reproduce import Reproduction
    from pcbench.leaderboards.summary import TimestepChoice
    from pcbench.models.pc import PCModel
    from pcbench.models.protocol import TimestepModel
    from pcbench.runner.run import RunSummary
    from pcbench.suite import Suite
    from pcbench.training.feedback import FeedbackResult, FeedbackSettings
    from pcbench.training.imported import ImportResult

#: Keyword overrides :func:`load_suite` accepts.
SUITE_OVERRIDES = ("models", "limit", "seed", "root", "corruptions_root", "timesteps")


def list_models(pattern: str = "*", *, variant: Variant | None = None, dataset: str | None = None) -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted.

    Example::

        list_models("*resnet*", variant="pc")   # ['presnet18', 'presnet18-cifar100']
    """
    if variant is not None and variant not in VARIANTS:
        raise PcbenchError(f"variant = {variant!r} is not allowed: {', '.join(VARIANTS)} or None")
    return sorted(
        spec.name
        for spec in list_model_specs()
        if fnmatch.fnmatchcase(spec.name, pattern)
        and (variant is None or spec.variant == variant)
        and (dataset is None or spec.dataset == dataset)
    )


def load_model(
    name: str, *, timesteps: int | None = None, device: str = "cpu", weights: str | Path | None = None
) -> TimestepModel:
    """A registered model, built with its weights, in eval mode: ``model(x)`` maps images in
    [0, 1] (``[B, 3, H, W]``) to logits ``[T + 1, B, classes]``.

    ``timesteps`` overrides a PC variant's T; ``weights`` replaces the weights file (for a PC
    variant: its predictors), like timm's ``checkpoint_path``.

    Example::

        model = load_model("digits-pcnn", timesteps=4)
        logits = model(torch.rand(8, 3, 32, 32))     # [5, 8, 10]
    """
    from pcbench.models.build import build_model

    spec = get_model_spec(name)
    if weights is not None:
        from pcbench.files import file_problem, real_path

        path = Path(weights).expanduser()
        problem = file_problem(path)
        if problem is not None:
            raise PcbenchError(
                f"load_model('{name}', weights='{path}'): the file {problem}; allowed: a state dict file "
                "saved with torch.save"
            )
        spec = dataclasses.replace(spec, weights=str(real_path(path)), weights_sha256=None)
    return build_model(spec, device=device, timesteps=timesteps)


def wrap_pc(
    backbone: nn.Module,
    layers: Sequence[str],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    input_size: int,
    timesteps: int = 10,
    beta: float = PAPER_BETA,
    lam: float = PAPER_LAMBDA,
    alpha: float = PAPER_ALPHA,
    gradient_scaling: bool = False,
    predictors: Sequence[nn.Module] | None = None,
) -> PCModel:
    """A PC variant of any ``nn.Module``, without registering anything (quick experiments).

    ``layers`` are the backbone's module paths to put PCoders on, bottom-up; predictors are
    derived from a dry forward at ``input_size`` (bilinear upsampling where the resolution
    changes, then a 3×3 ConvTranspose2d; seeded) unless given. The backbone is used as it is
    (its weights, in eval mode, frozen).

    Example::

        model = wrap_pc(torchvision.models.resnet18(), ["layer1", "layer2"],
                        mean=IMAGENET_MEAN, std=IMAGENET_STD, input_size=224, timesteps=4)
    """
    import torch

    from pcbench.models.build import INIT_SEED
    from pcbench.models.pc import PCModel
    from pcbench.models.predictors import derive_predictors, feature_shapes
    from pcbench.models.protocol import Normalize
    from pcbench.registry.spec import PCConfig, PCLayer

    config = PCConfig(
        tuple(PCLayer(layer, beta, lam, alpha) for layer in layers), gradient_scaling=gradient_scaling
    )  # validates the hyperparameters
    normalize = Normalize(mean, std)
    modules = [layer.module for layer in config.layers]
    if predictors is None:
        shapes = feature_shapes(backbone, normalize, modules, input_size)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(INIT_SEED)
            predictors = derive_predictors(shapes, (len(mean), input_size, input_size), modules)
    model = PCModel(
        backbone,
        normalize,
        modules,
        list(predictors),
        betas=[layer.beta for layer in config.layers],
        lambdas=[layer.lam for layer in config.layers],
        alphas=[layer.alpha for layer in config.layers],
        timesteps=timesteps,
        gradient_scaling=gradient_scaling,
    )
    return model.eval().requires_grad_(False)


def list_suites() -> list[str]:
    """Names of the built-in suites, sorted.

    Example::

        list_suites()   # ['adversarial-cifar10', ..., 'quick']
    """
    from pcbench.suite import builtin_suite_names

    return builtin_suite_names()


def load_suite(name_or_path: str | Path | Suite, *, without_data: bool = False, **overrides: Any) -> Suite:
    """A validated suite (built-in name or TOML path), with ``overrides`` applied: ``models``
    (names), ``limit``, ``seed``, ``root`` (replaces ``dataset.root``), ``corruptions_root``,
    ``timesteps`` (T or a list of timesteps). With ``without_data`` a suite that names no
    ``dataset.root`` or ``corruptions.root`` it needs loads anyway (for :func:`plan`).

    Example::

        suite = load_suite("quick", limit=50, models=["digits-cnn"])
        planned = load_suite("imagenet-c", without_data=True)   # no ImageNet on this machine
    """
    from pcbench.suite import Suite, with_overrides
    from pcbench.suite import load_suite as load
    from pcbench.suite.schema import DEFAULT_DATASETS

    unknown = sorted(set(overrides) - set(SUITE_OVERRIDES))
    if unknown:
        raise PcbenchError(
            f"load_suite: unknown override(s) {', '.join(unknown)}; allowed: {', '.join(SUITE_OVERRIDES)}"
        )
    root, corruptions_root = overrides.pop("root", None), overrides.pop("corruptions_root", None)
    if isinstance(name_or_path, Suite):
        if root is not None or corruptions_root is not None:
            raise PcbenchError("load_suite: root and corruptions_root need a suite name or file, not a Suite")
        suite = name_or_path
    else:
        datasets = dict.fromkeys(DEFAULT_DATASETS, False) if without_data else DEFAULT_DATASETS
        suite = load(name_or_path, dataset_root=root, corruptions_root=corruptions_root, datasets=datasets)
    if "models" in overrides and overrides["models"] is not None:
        overrides["models"] = tuple(overrides["models"])
    return with_overrides(suite, **overrides)


def plan(
    suite: str | Path | Suite,
    *,
    results: str | Path | None = "results",
    resume: bool = True,
    estimate: bool = True,
    device: str = "auto",
    batch_size: int = 128,
    checkpointing: bool = False,
    precision: Precision = "fp32",
    channels_last: bool = False,
    **overrides: Any,
) -> str:
    """What ``pcbench run --dry-run`` prints: the cells still to compute (those stored in
    ``results`` under their current key are done, unless not ``resume``), their forward and
    gradient passes, and (with ``estimate``) a time estimate and GPU-hours from timing each
    model's batches on ``device`` with ``precision`` and ``channels_last`` (see
    :mod:`pcbench.runner.plan`). Needs neither the data (random images of the data set's size
    stand in) nor the weights.

    Example::

        print(plan("quick", limit=20))
        print(plan("adversarial-imagenet", models=["pvgg16"], device="cuda", precision="bf16"))
    """
    from pcbench.models.precision import Numerics
    from pcbench.runner.plan import format_plan, make_plan

    return format_plan(
        make_plan(
            load_suite(suite, without_data=True, **overrides),
            results_dir=None if results is None else Path(results),
            resume=resume,
            estimate=estimate,
            device=device,
            batch_size=batch_size,
            checkpointing=checkpointing,
            numerics=Numerics(precision, channels_last),
        )
    )


def run(
    suite: str | Path | Suite,
    *,
    results: str | Path = "results",
    leaderboards: str | Path | None = "leaderboards",
    device: str = "auto",
    batch_size: int = 128,
    resume: bool = True,
    progress: bool = True,
    checkpointing: bool = False,
    workers: int | None = None,
    replace: bool = False,
    wait: bool = True,
    executor: Executor | ExecutorOptions = "local",
    precision: Precision = "fp32",
    channels_last: bool = False,
    **overrides: Any,
) -> RunSummary:
    """What ``pcbench run SUITE`` does: evaluate every cell not yet stored, then (unless
    ``leaderboards`` is None) write the whole report there. ``overrides`` go to
    :func:`load_suite`.

    ``executor`` says where the cells are evaluated: ``"local"`` (this process), or an
    :class:`~pcbench.executors.ExecutorOptions` for local worker processes per device,
    SLURM or Ray (:mod:`pcbench.executors`); the cells and their numbers are the same.
    With ``detach`` the tasks are submitted and no report is written (``summary.job_id``).

    ``precision`` (``fp32``, ``tf32``, ``bf16``, ``fp16``) and ``channels_last`` say how the
    models compute (:mod:`pcbench.models.precision`; tf32 and fp16 need CUDA); both are
    recorded in every row and, unless fp32 contiguous, in the cell keys.

    Example::

        summary = run("quick", limit=50, results="results-50", progress=False)
        run("quick", limit=50, results="results-bf16", precision="bf16", progress=False)
        len(summary.evaluated), summary.results
        run("quick", limit=50, executor=ExecutorOptions("ray", cells_per_task=4), progress=False)
    """
    from pcbench.models.precision import Numerics
    from pcbench.runner import run_suite
    from pcbench.runner.settings import RunSettings

    options = ExecutorOptions(executor) if isinstance(executor, str) else executor
    options.check()
    from pcbench.store.locations import check_output_dir

    loaded = load_suite(suite, **overrides)
    check_output_dir("results", Path(results))  # before anything is evaluated, not after
    if leaderboards is not None:
        check_output_dir("leaderboards", Path(leaderboards))
    settings = RunSettings(
        results_dir=Path(results),
        device=device,
        batch_size=batch_size,
        resume=resume,
        progress=progress,
        checkpointing=checkpointing,
        workers=workers,
        replace=replace,
        wait=wait,
        numerics=Numerics(precision, channels_last),
    )
    if options.distributed:
        from pcbench.executors.coordinator import run_distributed

        summary = run_distributed(loaded, settings, options)
        if options.detach and summary.job_id is not None:
            return summary
    else:
        _check_no_active_tasks(Path(results), loaded)
        summary = run_suite(loaded, settings)
    if leaderboards is not None:
        board = leaderboard(loaded, results=[results])
        summary.report = write_report(board, leaderboards)
        summary.warnings = board.results.warnings
    return summary


def _check_no_active_tasks(results: Path, suite: Suite) -> None:
    """Refuse a local run or evaluation while tasks of a distributed run may still write into
    ``results`` (their temporary files would be taken for a dead writer's)."""
    from pcbench.executors.coordinator import check_no_active_tasks
    from pcbench.executors.jobs import jobs_root

    check_no_active_tasks(jobs_root(results, suite.name))


def status(suite: str | Path | Suite, *, results: str | Path = "results", **overrides: Any) -> RunStatus:
    """What ``pcbench status SUITE`` shows: per model, how many cells are done, running,
    queued (submitted, not started), failed or missing, and each failed task of the latest
    distributed run with the cell it died in and its log. Reads files only.

    Example::

        print(status("quick", limit=50, results="results-50").format())
    """
    from pcbench.executors.status import run_status

    return run_status(load_suite(suite, **overrides), Path(results))


def forget_run(suite: str | Path | Suite, *, results: str | Path = "results") -> Path | None:
    """What ``pcbench status SUITE --forget`` does first: delete the records of the latest
    distributed run of ``suite`` in ``results`` (a damaged record, or a task that stays
    ``running`` because it died on another host), never a stored cell nor anything outside
    the jobs folder. Returns the run folder deleted, or None.

    Example::

        forget_run("quick", results="results")
    """
    from pcbench.executors.jobs import forget_run as forget
    from pcbench.executors.jobs import jobs_root
    from pcbench.store.locations import suite_name

    return forget(jobs_root(Path(results), suite_name(suite)))


def load_results(
    suite: str | Path | Suite,
    results: str | Path | Sequence[str | Path] = ("results",),
    on_conflict: OnConflict = "error",
) -> Results:
    """Scores and per-sample predictions of ``suite`` (DataFrames), merged over the result
    directories (one evaluation set; conflicts raise unless ``on_conflict="first"``).

    Example::

        results = load_results("quick")
        results.scores.query("perturbation == 'clean'")[["model", "timestep", "accuracy"]]
    """
    from pcbench.leaderboards.merge import load_results as load
    from pcbench.store.locations import suite_name

    directories = [results] if isinstance(results, (str, Path)) else list(results)
    return load([Path(directory) for directory in directories], suite_name(suite), on_conflict)


def leaderboard(
    suite: str | Path | Suite,
    *,
    results: str | Path | Sequence[str | Path] = ("results",),
    baseline: str | None = None,
    timestep: TimestepChoice | int | str = "last",
    sort: str | None = None,
    on_conflict: OnConflict = "error",
) -> Leaderboard:
    """The tables ``pcbench compare`` writes: ``.metrics`` (long), ``.timesteps`` (per
    timestep), ``.summary`` (one row per model), plus masking ``.flags``. ``timestep``:
    ``"last"``, ``"best"`` (by ``sort``) or a timestep number (also as text, as ``--timestep``).

    Example::

        board = leaderboard("quick", baseline="digits-cnn")
        board.metrics.query("metric == 'clean_acc'")
    """
    from pcbench.leaderboards.board import CompareOptions, build_leaderboard
    from pcbench.leaderboards.summary import parse_timestep

    chosen = parse_timestep(timestep) if isinstance(timestep, str) else timestep
    options = CompareOptions(baseline=baseline, timestep=chosen, sort=sort)
    return build_leaderboard(load_results(suite, results, on_conflict), options)


def write_report(
    board: Leaderboard,
    leaderboards: str | Path,
    *,
    csvs: bool = True,
    plots: bool = True,
    markdown: bool = True,
    html: bool = False,
) -> list[Path]:
    """Write a leaderboard's CSVs, plots and Markdown report under ``leaderboards``, and with
    ``html`` its HTML site ``<leaderboards>/<suite>-site/`` (``report --html``, see
    :func:`write_site`); return the paths written.

    Example::

        write_report(leaderboard("quick"), "leaderboards", html=True)
    """
    from pcbench.leaderboards.board import write_csvs
    from pcbench.leaderboards.html import site_dir
    from pcbench.leaderboards.plots import plots_dir, write_plots
    from pcbench.leaderboards.report import report_path
    from pcbench.leaderboards.report import write_report as write_markdown

    directory = Path(leaderboards)
    written = write_csvs(board, directory) if csvs else []
    pictures = write_plots(board, plots_dir(directory, board.suite)) if plots or markdown else []
    if markdown:
        written.append(write_markdown(board, report_path(directory, board.suite), pictures))
    if html:
        written += write_site([board], site_dir(directory, board.suite))
    return written + (pictures if plots else [])


def write_site(boards: Leaderboard | Sequence[Leaderboard], directory: str | Path) -> list[Path]:
    """What ``pcbench site`` writes: a static HTML site of one or more suites' leaderboards
    that works offline from ``file://`` and makes no request (:mod:`pcbench.leaderboards.html`):
    per suite a sortable table (clean, corruption and best-known robust accuracy at the last
    and best timestep, Δ against the base with its interval and p-value, masking flags) and
    per-timestep curves, and a page per model (model card, provenance). Returns the pages
    written, ``<directory>/index.html`` first (one suite: its table; several: a list of them).

    Example::

        write_site([leaderboard("quick"), leaderboard("cifar10-c")], "leaderboards/site")
    """
    from pcbench.leaderboards.html import write_site as write_pages

    return write_pages([boards] if not isinstance(boards, Sequence) else list(boards), Path(directory))


def reproduce(board: Leaderboard, reference: str | Path) -> Reproduction:
    """Compare a leaderboard's long table with a reference CSV (``compare --against``):
    attack-free metrics must be equal as written, attack metrics within tolerance, and every
    metric of a model with reduced-precision rows within the reduced-precision tolerance.

    Example::

        result = reproduce(leaderboard("quick"), "leaderboards/quick.csv")
        result.reproduced
    """
    from pcbench.leaderboards.reproduce import compare_to_reference, read_reference, reduced_precision_models

    reduced = reduced_precision_models(board.results.scores)
    return compare_to_reference(board.metrics, read_reference(Path(reference)), reduced)


def model_table() -> tuple[str, list[str]]:
    """What ``pcbench models`` prints: the registry as a text table, and one warning per
    broken user registry entry."""
    from pcbench.models.cards import format_model_table

    return format_model_table()


def model_card(name: str) -> str:
    """What ``pcbench models show NAME`` prints: spec, PCoder table, parameters, weights."""
    from pcbench.models.cards import format_model_card

    return format_model_card(name)


def describe_suites() -> list[tuple[str, str]]:
    """``(name, description)`` of every built-in suite; a suite that needs data not set up
    yet says so instead of its description."""
    from pcbench.suite import load_suite as load

    described = []
    for name in list_suites():
        try:
            described.append((name, load(name).description))
        except PcbenchError as exc:  # e.g. a data set root that is not set up yet
            described.append((name, f"(not runnable yet) {exc}"))
    return described


#: The files ``pcbench schema`` describes: a suite, a model file.
SchemaKind = Literal["suite", "models"]
SCHEMA_KINDS: tuple[SchemaKind, ...] = get_args(SchemaKind)


def schema(kind: SchemaKind) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a suite file (``"suite"``) or a model file
    (``"models"``), from the pydantic models that validate them: what ``pcbench schema
    suite|models`` prints and ``schema/suite.json`` / ``schema/models.json`` hold, for an editor
    (a ``#:schema`` comment at the top of a TOML file). It states each key's type, range,
    default and description; the checks across keys (a PC variant needs a ``base``, ``fgsm``
    takes one step, a ``root`` must exist) run when pcbench loads the file.

    Example::

        >>> pcbench.schema("suite")["properties"]["seed"]["minimum"]
        0
    """
    from pcbench.registry.user_file import ModelsFile
    from pcbench.suite.tables import SuiteTable
    from pcbench.validation import json_schema

    tables = {"suite": SuiteTable, "models": ModelsFile}
    if kind not in tables:
        raise PcbenchError(f"schema: unknown kind {kind!r}; allowed: {', '.join(SCHEMA_KINDS)}")
    return json_schema(tables[kind])


def cache_usage() -> list[CacheUsage]:
    """What ``pcbench cache info`` lists: entries and bytes per data set and group."""
    from pcbench.array_cache import cache_usage as usage

    return usage()


def clear_cache(dataset: str | None = None) -> Cleared:
    """What ``pcbench cache clear [--dataset NAME]`` does: delete cached corruptions and
    decoded images (all, or one cached data set's); never anything outside the cache."""
    from pcbench.array_cache import clear_cache as clear

    return clear(dataset)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` returns.

    ``accuracy``: one row per cell (``clean``, ``gaussian_noise-s3``, ``pgd-linf@0.03``, ...),
    one column per evaluated timestep; ``scores``: the long score rows (every column pcbench
    stores); ``summary``: the leaderboard's summary rows of the model and its ``base`` (Δ and
    paired p-values of every metric), ``None`` without a base; ``report``: the files written
    under ``leaderboards``; ``evaluated`` / ``skipped``: the cells computed now / found stored.
    """

    name: str
    base: str | None
    results: Path
    accuracy: pd.DataFrame
    scores: pd.DataFrame
    summary: pd.DataFrame | None
    evaluated: tuple[str, ...]
    skipped: tuple[str, ...]
    report: tuple[Path, ...] = ()


def evaluate(
    model: nn.Module | str,
    suite: str | Path | Suite,
    *,
    name: str | None = None,
    base: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    key: str | None = None,
    results: str | Path = "results",
    leaderboards: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 128,
    resume: bool = True,
    progress: bool = False,
    workers: int | None = None,
    replace: bool = False,
    precision: Precision = "fp32",
    channels_last: bool = False,
    **overrides: Any,
) -> Evaluation:
    """RobustBench's ``benchmark()`` for dynamic models: evaluate your own ``nn.Module`` on a
    suite without registering it.

    The module maps images in [0, 1] (``[B, 3, H, W]``) to logits ``[B, classes]`` or ``[T + 1,
    B, classes]``; with ``mean`` and ``std`` it gets normalised images instead (pcbench puts
    the normalisation inside, so attacks still work in pixel space). It is never changed: its
    devices, modes and ``requires_grad`` flags are restored afterwards.

    The cells are stored under ``name`` in ``<results>/<suite>/`` like any run and keyed by
    the module's whole identity (structure, settings such as a PC model's β, every parameter
    and buffer: :mod:`pcbench.models.identity`), so a different module under a stored name is
    computed afresh, never answered with the old numbers; ``key`` adds what pcbench cannot
    see (e.g. ``key="v2"``); ``resume=False`` recomputes everything. ``precision`` and
    ``channels_last`` are :func:`run`'s (in the rows and, unless fp32 contiguous, the keys).

    ``base`` names the feedforward model a dynamic module (T >= 1) is a variant of: a
    registered model (evaluated too, if not yet stored) or a name evaluated before into
    ``results``. Every table and plot then pairs the two (Δ, paired p-values,
    ``variant-vs-base.png``); ``leaderboards`` writes the whole report there.

    A registered model can be passed by name instead of a module (then ``name`` is optional).

    Example::

        variant = pcbench.wrap_pc(net, ["layer1", "layer2"], mean=MEAN, std=STD, input_size=32)
        result = pcbench.evaluate(variant, "quick", name="my-pc", base="my-ff", limit=50)
        result.accuracy                      # cells x timesteps
        result.summary                       # delta_clean_acc:last, p_clean_acc:last, ...
    """
    from pcbench.models.precision import Numerics
    from pcbench.runner import run_suite
    from pcbench.runner.entries import UserModule, borrowed
    from pcbench.runner.settings import RunSettings
    from pcbench.store.locations import check_output_dir
    from pcbench.suite import with_overrides

    settings = RunSettings(
        results_dir=Path(results),
        device=device,
        batch_size=batch_size,
        resume=resume,
        progress=progress,
        workers=workers,
        replace=replace,
        numerics=Numerics(precision, channels_last),
    )
    loaded = load_suite(suite, **overrides)
    if isinstance(model, str):
        if any(value is not None for value in (base, mean, std, key)):
            raise PcbenchError(
                f"evaluate('{model}'): base, mean, std and key are for your own module; a registered "
                "model's spec sets them"
            )
        name, modules = name or model, {}
    elif name is None:
        raise PcbenchError("evaluate: name = None; your own module needs a name to be stored under")
    else:
        check_name("model", name, "evaluate")
        if name in list_models():
            raise PcbenchError(f"evaluate: name = '{name}' is a registered model; choose another name")
        modules = {name: UserModule(model, base=base, mean=mean, std=std, key=key)}
    check_output_dir("results", Path(results))
    if leaderboards is not None:
        check_output_dir("leaderboards", Path(leaderboards))
    models = [name] if base is None else _with_base(name, base, loaded, results)
    loaded = with_overrides(loaded, models=models)
    _check_no_active_tasks(Path(results), loaded)
    with borrowed([user.module for user in modules.values()]):
        summary = run_suite(loaded, settings, modules=modules)
    stored = load_results(loaded, results)
    scores = stored.scores[stored.scores["model"] == name].reset_index(drop=True)
    accuracy = scores.pivot_table(index="cell", columns="timestep", values="accuracy", sort=False)
    board, report = None, []
    if base is not None or leaderboards is not None:
        from pcbench.leaderboards.board import build_leaderboard

        board = build_leaderboard(stored)  # what leaderboard(loaded, results=[results]) builds, without rereading
        if leaderboards is not None:
            report = write_report(board, leaderboards)
    return Evaluation(
        name=name,
        base=base,
        results=summary.results,
        accuracy=accuracy.rename_axis(index="cell", columns="timestep"),
        scores=scores,
        summary=None if board is None or base is None else _pair_summary(board, name, base),
        evaluated=tuple(summary.evaluated),
        skipped=tuple(summary.skipped),
        report=tuple(report),
    )


def _with_base(name: str, base: str, suite: Suite, results: str | Path) -> list[str]:
    """The models a run of ``name`` with ``base`` evaluates: a registered base too (its stored
    cells are skipped), a base evaluated before only when it is stored in ``results``."""
    if base == name:
        raise PcbenchError(f"evaluate: base = '{base}' is the model itself; name its feedforward base")
    if base in list_models():
        return [base, name]
    from pcbench.store import read_scores

    root = Path(results) / suite.name
    try:
        stored = set(read_scores(root)["model"])
    except PcbenchError:  # nothing stored there (yet)
        stored = set()
    if base not in stored:
        raise PcbenchError(
            f"evaluate: base = '{base}' is neither a registered model nor stored in {root}; allowed: a registered "
            "model, or a name you evaluated into these results first (evaluate(base_module, ..., name="
            f"'{base}'))"
        )
    return [name]


def _pair_summary(board: Leaderboard, name: str, base: str) -> pd.DataFrame:
    """The summary rows of ``base`` and ``name`` (the variant's carry Δ and p columns)."""
    rows = board.summary[board.summary["model"].isin([base, name])]
    return rows.set_index("model").loc[[base, name]].reset_index()


def register_file(path: str | Path, *, replace: bool = False, drop_weights: bool = False) -> list[ModelSpec]:
    """What ``pcbench register FILE`` does: validate every model of a TOML model file (built
    with its weights, one forward on a dummy input) and save them in the user registry.

    With ``replace``, a PC variant whose file names no weights keeps the feedback weights of
    the entry it replaces, saying so in one line on stderr, unless ``drop_weights``
    (:func:`pcbench.registry.user_file.carried_weights`).

    Example::

        register_file("models.toml", replace=True)
    """
    import sys

    from pcbench.models.build import validate_model
    from pcbench.registry.user_file import register_from_file

    return register_from_file(
        Path(path),
        validate=validate_model,
        replace=replace,
        drop_weights=drop_weights,
        on_note=lambda note: print(f"note: {note}", file=sys.stderr),
    )


def unregister(name: str) -> None:
    """Remove a user registry entry, also a broken one (``pcbench unregister NAME``).

    Example::

        unregister("my-cnn")
    """
    from pcbench.registry.user_file import remove_from_user_file

    remove_from_user_file(name)


def feedback_settings(name: str, *, dataset: str | None = None, **options: Any) -> FeedbackSettings:
    """Feedback-training settings for PC model ``name``: its reference preset (optimiser,
    lr, weight decay, epochs, batch size) with ``options`` (``split``, ``root``, ``limit``,
    ``epochs``, ``batch_size``, ``optimizer``, ``lr``, ``weight_decay``, ``seed``,
    ``hyperparameter_epochs``) replacing them where given.

    Example::

        settings = feedback_settings("digits-pcnn", epochs=2, limit=200)
    """
    from pcbench.models.zoo import feedback_preset
    from pcbench.training.feedback import FeedbackSettings

    dataset = dataset or get_model_spec(name).dataset
    if dataset is None:
        raise PcbenchError(f"model '{name}' names no dataset; pass --dataset")
    if options.get("root") is not None:
        options["root"] = str(options["root"])
    return FeedbackSettings.from_preset(feedback_preset(name), dataset, **options)


def train_feedback(
    name: str,
    settings: FeedbackSettings | None = None,
    device: str | torch.device = "auto",
    out: str | Path | None = None,
    entry_name: str | None = None,
) -> FeedbackResult:
    """What ``pcbench train-feedback`` does: train PC model ``name``'s predictors (resumably)
    with ``settings`` (default: :func:`feedback_settings`), save them to ``out`` and point the
    registry at them.

    ``out`` defaults to the file the model expects in the weights directory (for a zoo
    model) or ``$PCBENCH_WEIGHTS/<name>-feedback.pt``. The registry: a user entry ``name``
    is updated in place; otherwise, unless the model already loads ``out`` with unchanged
    hyperparameters, a user entry ``entry_name`` (default ``<name>-trained``) is saved,
    replacing a user entry of that name (an earlier result). Everything is checked before
    any training.

    Example::

        result = train_feedback("my-presnet", feedback_settings("my-presnet", epochs=5))
        result.registered, result.losses
    """
    from pcbench.runner.run import resolve_device
    from pcbench.training import feedback
    from pcbench.training.trained_entry import save_trained, trained_entry_name

    spec = get_model_spec(name)
    settings = settings or feedback_settings(name)
    data = feedback.training_data(spec, settings)
    path = feedback.output_path(spec, None if out is None else Path(out))
    target = trained_entry_name(spec, path, entry_name, settings)
    torch_device = device if not isinstance(device, str) else resolve_device(device)
    result = feedback.train_feedback(spec, settings, torch_device, path, data)
    if target is None:
        return result
    save_trained(spec, target, path, result.layers, settings)
    return dataclasses.replace(result, registered=target)


def import_feedback(name: str, files: Sequence[str | Path], out: str | Path | None = None) -> ImportResult:
    """What ``pcbench import-feedback`` does: read feedback weights saved by Predify's
    reference code (per-PCoder predictor files or training checkpoints in PCoder order, or
    one whole-network state dict; :mod:`pcbench.training.imported`), map them onto PC model
    ``name``'s predictors with every shape checked, and save them as pcbench feedback
    weights recording "imported" and each file's SHA-256.

    ``out`` defaults as for :func:`train_feedback` (for a zoo model, the file it loads), so a
    zoo model then loads the imported weights as it loads trained ones. Nothing is registered.

    Example::

        import_feedback("pvgg16", [f"pvgg16_imagenet_pretrained_pc{n}_pmodule.pth" for n in range(1, 6)])
    """
    from pcbench.training import imported

    paths = [Path(path) for path in files]
    return imported.import_feedback(get_model_spec(name), paths, None if out is None else Path(out))
