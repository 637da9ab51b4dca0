"""The ``pcbench`` command line: run suites, compare results, manage the model registry."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pcbench.boundary import guarded
from pcbench.executors.options import DEFAULT_CELLS_PER_TASK, from_flags

if TYPE_CHECKING:
    from pcbench.leaderboards.board import Leaderboard
    from pcbench.suite import Suite


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pcbench")
def cli() -> None:
    """pcbench: does predictive-coding feedback make vision networks more robust, and when?

    Evaluate feedforward CNNs and their predictive-coding (PC) variants on clean data,
    common corruptions and adversarial attacks at every timestep, store the results as
    Parquet and compare them in leaderboard CSVs.

    \b
    Start with:  pcbench run quick
    """


@cli.command()
@click.argument("suite")
@click.option(
    "-m", "--model", "models", multiple=True, help="Model to evaluate (repeatable); default: the suite's models."
)
@click.option(
    "--results",
    type=click.Path(path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Directory holding <suite>/scores and <suite>/predictions.",
)
@click.option(
    "--leaderboards",
    type=click.Path(path_type=Path),
    default=Path("leaderboards"),
    show_default=True,
    help="Directory for the leaderboard CSVs (<suite>.csv, <suite>-timesteps.csv, <suite>-summary.csv).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate a seeded, stratified subset of N samples.")
@click.option(
    "--root", type=click.Path(path_type=Path), help="Local root of the suite's data set (replaces dataset.root)."
)
@click.option(
    "--corruptions-root",
    type=click.Path(path_type=Path),
    help="Local root of the precomputed -C set (replaces corruptions.root).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:<index>.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option(
    "--seed", type=click.IntRange(min=0), help="Override the suite seed (corruption noise, attack random starts)."
)
@click.option(
    "--precision",
    default="fp32",
    show_default=True,
    help="fp32, tf32 (CUDA), bf16 or fp16 (CUDA): autocast of the models' forward and the attacks' gradients; "
    "recorded per row and in the cell key (docs/precision.md).",
)
@click.option(
    "--channels-last", is_flag=True, help="Models and inputs in channels-last (NHWC) layout; recorded like --precision."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the cells still to compute (stored ones are counted apart), their passes and a time "
    "estimate from timing each model's real batches; evaluate nothing.",
)
@click.option("--no-resume", is_flag=True, help="Recompute cells that are already stored.")
@click.option(
    "--replace",
    is_flag=True,
    help="Drop the stored cells of these models that were evaluated on another evaluation set "
    "(e.g. another --limit) instead of refusing the run.",
)
@click.option(
    "--checkpointing",
    is_flag=True,
    help="Activation checkpointing across PC timesteps: less memory in attacks, ~1 extra sweep per step; same numbers.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes generating corruptions / decoding images; default: all CPUs. Results do not depend on it.",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Fail at once, naming the holder, when another run holds <results>/<suite>/.lock (default: wait for it).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "slurm", "ray"]),
    default="local",
    show_default=True,
    help="Where the cells are evaluated (never part of a cell key): this machine, a SLURM job array, Ray tasks.",
)
@click.option(
    "--cells-per-task",
    type=click.IntRange(min=1),
    default=DEFAULT_CELLS_PER_TASK,
    show_default=True,
    help="Cells per task of a distributed run (tasks are grouped by model).",
)
@click.option("--devices", help="Local worker processes, one per device: all, or e.g. cuda:0,cuda:1 (or cpu,cpu).")
@click.option("--detach", is_flag=True, help="Submit the tasks and return with the job id (--executor slurm).")
@click.option("--slurm-partition", help="sbatch --partition.")
@click.option("--slurm-gpus-per-task", type=click.IntRange(min=0), help="sbatch --gpus-per-task.")
@click.option("--slurm-cpus-per-task", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--slurm-mem", help="sbatch --mem, e.g. 16G.")
@click.option("--slurm-time", type=click.IntRange(min=1), default=60, show_default=True, help="Minutes per task.")
@click.option("--slurm-array-parallelism", type=click.IntRange(min=1), default=256, show_default=True)
@click.option(
    "--slurm-opt", multiple=True, help="Any other #SBATCH option: key=value, or key alone for a flag (repeatable)."
)
@click.option("--ray-address", help="HOST:PORT of a running Ray cluster (default: start a local one).")
@click.option("--ray-num-cpus", type=click.FloatRange(min=0.01), default=1.0, show_default=True, help="CPUs per task.")
@click.option("--ray-num-gpus", type=click.FloatRange(min=0), default=0.0, show_default=True, help="GPUs per task.")
@click.option("--ray-cluster-cpus", type=click.IntRange(min=1), help="CPUs of the local cluster (default: all).")
def run(
    suite: str,
    models: tuple[str, ...],
    results: Path,
    leaderboards: Path,
    limit: int | None,
    device: str,
    batch_size: int,
    seed: int | None,
    dry_run: bool,
    no_resume: bool,
    checkpointing: bool,
    root: Path | None,
    corruptions_root: Path | None,
    workers: int | None,
    replace: bool,
    no_wait: bool,
    precision: str,
    channels_last: bool,
    **placement: Any,
) -> None:
    """Evaluate SUITE (a built-in suite name or a TOML path) and print its leaderboard.

    Every (model, perturbation) cell is evaluated once for all timesteps and committed
    atomically; rerunning skips finished cells, so an interrupted run resumes. One run
    writes to a results directory at a time; a second one waits for it (see --no-wait).
    Afterwards the whole report (CSVs, plots, Markdown) is written to --leaderboards.
    """
    from pcbench import api
    from pcbench.leaderboards import format_leaderboard, leaderboard_table

    loaded = api.load_suite(
        suite,
        root=root,
        corruptions_root=corruptions_root,
        seed=seed,
        limit=limit,
        models=models or None,
        without_data=dry_run,  # a plan needs neither the data nor the weights
    )
    if dry_run:
        click.echo(
            api.plan(
                loaded,
                results=results,
                resume=not no_resume,
                device=device,
                batch_size=batch_size,
                checkpointing=checkpointing,
                precision=precision,
                channels_last=channels_last,
            )
        )
        return
    summary = api.run(
        loaded,
        results=results,
        leaderboards=leaderboards,
        device=device,
        batch_size=batch_size,
        resume=not no_resume,
        checkpointing=checkpointing,
        workers=workers,
        replace=replace,
        wait=not no_wait,
        executor=from_flags(**placement),
        precision=precision,
        channels_last=channels_last,
    )
    if summary.job_id is not None and placement["detach"]:
        click.echo(
            f"submitted job {summary.job_id}: follow it with pcbench status {suite} --results {results}", err=True
        )
        return
    click.echo(
        f"{len(summary.evaluated)} cells evaluated, {len(summary.skipped)} already stored ({summary.results})", err=True
    )
    _warn(summary.warnings)
    click.echo(format_leaderboard(leaderboard_table(api.load_results(loaded, results).scores)))
    written = [path for path in summary.report if path.suffix != ".png"]
    click.echo(f"leaderboard written to {', '.join(map(str, written))}", err=True)


@cli.command("status")
@click.argument("suite")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="The --limit the run used.")
@click.option("--seed", type=click.IntRange(min=0), help="The --seed the run used.")
@click.option("--models", "-m", multiple=True, help="Only these models (default: the suite's).")
@click.option("--root", type=click.Path(path_type=Path), help="The --root the run used.")
@click.option("--corruptions-root", type=click.Path(path_type=Path), help="The --corruptions-root the run used.")
@click.option(
    "--forget",
    is_flag=True,
    help="First delete the latest distributed run's task records (a damaged record, or a task that died on "
    "another host and still says running); stored cells stay.",
)
def status(
    suite: str,
    results: Path,
    limit: int | None,
    seed: int | None,
    models: tuple[str, ...],
    root: Path | None,
    corruptions_root: Path | None,
    forget: bool,
) -> None:
    """Show how many cells of SUITE are done, running, queued, failed or missing in --results,
    and each failed task of the latest distributed run with the cell it died in and its log.
    Give it the --limit, --seed, --models and roots the run was given."""
    from pcbench import api

    if forget:
        forgotten = api.forget_run(suite, results=results)
        click.echo(f"forgot run {forgotten.name}" if forgotten else "no distributed run to forget", err=True)
    overrides = {"limit": limit, "seed": seed, "models": models or None, "root": root}
    click.echo(api.status(suite, results=results, corruptions_root=corruptions_root, **overrides).format())


def _leaderboard_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options shared by ``compare``, ``plot`` and ``report``."""
    options = [
        click.option(
            "--results",
            multiple=True,
            type=click.Path(path_type=Path),
            default=(Path("results"),),
            show_default=True,
            help="Directory holding <suite>/scores and <suite>/predictions; repeat to "
            "merge the results of several runs or machines.",
        ),
        click.option(
            "--leaderboards",
            type=click.Path(path_type=Path),
            default=Path("leaderboards"),
            show_default=True,
            help="Output directory.",
        ),
        click.option(
            "--baseline",
            help="Model that mCE and relative mCE are normalised by (default: AlexNet's "
            "ImageNet-C errors for an imagenet suite, else no mCE).",
        ),
        click.option(
            "--timestep",
            default="last",
            show_default=True,
            help="Timestep shown, sorted by and used for the heatmap: last, best (by --sort) or a number.",
        ),
        click.option(
            "--sort",
            help="Metric to sort by and to pick the best timestep with: any metric of "
            "<suite>.csv (default: clean_acc).",
        ),
        click.option(
            "--on-conflict",
            default="error",
            show_default=True,
            help="A cell stored twice with different provenance: error, or first (keep the first --results "
            "directory's copy).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command()
@click.argument("suite")
@_leaderboard_options
@click.option(
    "--against",
    type=click.Path(path_type=Path),
    help="Reference long leaderboard CSV (e.g. the "
    "committed leaderboards/<suite>.csv): compare this machine's rows with it, print every row "
    "that is not equal and exit with status 1 unless reproduced.",
)
def compare(
    suite: str,
    results: tuple[Path, ...],
    leaderboards: Path,
    baseline: str | None,
    timestep: str,
    sort: str | None,
    on_conflict: str,
    against: Path | None,
) -> None:
    """Write the leaderboard CSVs of SUITE from stored results and print the summary.

    \b
    <leaderboards>/<SUITE>.csv            long: model, metric, timestep, value, 95 % CI, n
    <leaderboards>/<SUITE>-timesteps.csv  wide: one row per model and timestep
    <leaderboards>/<SUITE>-summary.csv    one row per model: timestep 0, last and best,
                                          dynamic variant vs its base (McNemar), masking flags
    <leaderboards>/<SUITE>-attack-readout.csv  with attack cells: accuracy of the images
                                          attacked at each timestep, read at each timestep

    With --against, non-attack metrics must be equal as written (6 significant
    digits), attack metrics within max(2, 1 % of n) samples (see the docs: Read a leaderboard).
    """
    from pcbench import api
    from pcbench.leaderboards.reproduce import format_reproduction, read_reference
    from pcbench.leaderboards.view import format_summary

    if against is not None:
        read_reference(against)  # a bad reference fails before anything is written
    board = _leaderboard(suite, results, baseline, timestep, sort, on_conflict)
    reproduction = None if against is None else api.reproduce(board, against)  # before the CSVs may overwrite it
    paths = api.write_report(board, leaderboards, plots=False, markdown=False)
    click.echo(format_summary(board))
    click.echo(f"leaderboard written to {', '.join(map(str, paths))}", err=True)
    if reproduction is not None:
        click.echo(format_reproduction(reproduction))
        if not reproduction.reproduced:
            sys.exit(1)


@cli.command()
@click.argument("suite")
@_leaderboard_options
def plot(
    suite: str,
    results: tuple[Path, ...],
    leaderboards: Path,
    baseline: str | None,
    timestep: str,
    sort: str | None,
    on_conflict: str,
) -> None:
    """Draw the plots of SUITE as PNGs into <leaderboards>/<SUITE>-plots/.

    Accuracy vs timestep (clean, corruption families, each attack and ε), dynamic variant −
    base per timestep, accuracy vs severity, a model × corruption heatmap, Predify's
    relative corruption error and accuracy vs ε.
    """
    from pcbench import api

    board = _leaderboard(suite, results, baseline, timestep, sort, on_conflict)
    for path in api.write_report(board, leaderboards, csvs=False, markdown=False):
        click.echo(path)


@cli.command()
@click.argument("suite")
@_leaderboard_options
@click.option(
    "--html",
    is_flag=True,
    help="Also write a static HTML site <leaderboards>/<SUITE>-site/ (sortable table, per-timestep "
    "curves, a page per model; opens offline from file://).",
)
def report(
    suite: str,
    results: tuple[Path, ...],
    leaderboards: Path,
    baseline: str | None,
    timestep: str,
    sort: str | None,
    on_conflict: str,
    html: bool,
) -> None:
    """Write the CSVs, the plots and a Markdown report <leaderboards>/<SUITE>-report.md.

    The report holds the summary table, the gradient-masking checks, a "did the dynamics
    help?" table per dynamic variant, the plots (relative links) and the provenance. With --html
    the same leaderboard also becomes a web page (see `pcbench site`).
    """
    from pcbench import api

    board = _leaderboard(suite, results, baseline, timestep, sort, on_conflict)
    for path in api.write_report(board, leaderboards, plots=False, html=html):
        if path.suffix == ".md" or path.name == "index.html":
            click.echo(path)


@cli.command()
@click.argument("suites", nargs=-1, required=True)
@_leaderboard_options
def site(
    suites: tuple[str, ...],
    results: tuple[Path, ...],
    leaderboards: Path,
    baseline: str | None,
    timestep: str,
    sort: str | None,
    on_conflict: str,
) -> None:
    """Write one static HTML site of SUITES' leaderboards to <leaderboards>/site/.

    \b
    index.html            one suite: its table and curves; several: the list of suites
    <SUITE>/index.html    (several suites) a suite's sortable table: clean, corruption and
                          best-known robust accuracy at the last and best timestep, Δ against
                          the base with interval and p-value, masking flags; per-timestep
                          curves by metric, corruption and threat model
    .../models/<M>.html   per model: every summary value, per-timestep values, model card,
                          provenance

    The pages work offline from file:// and make no request. The leaderboard options apply
    to every suite.
    """
    from pcbench import api

    boards = [_leaderboard(suite, results, baseline, timestep, sort, on_conflict) for suite in suites]
    click.echo(api.write_site(boards, leaderboards / "site")[0])


@cli.group(invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List registered models (name, variant, base, parameters, timesteps, source).

    Broken user registry entries are left out, with one warning each on stderr.
    """
    if ctx.invoked_subcommand is None:
        from pcbench import api

        table, warnings = api.model_table()
        click.echo(table)
        _warn(warnings)


@models.command("show")
@click.argument("name")
def models_show(name: str) -> None:
    """Show one model: spec, PCoder table, parameters and weights."""
    from pcbench import api

    click.echo(api.model_card(name))


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--replace",
    is_flag=True,
    help="Replace user registry entries of the same names (working or "
    "broken); built-in and other models are never replaced.",
)
@click.option(
    "--drop-weights",
    is_flag=True,
    help="With --replace: do not keep the feedback weights of a replaced PC variant whose entry in FILE names none.",
)
def register(file: Path, replace: bool, drop_weights: bool) -> None:
    """Register the models in FILE (TOML, [models.NAME] tables) in the user registry.

    Each model is built with its weights and run once on a dummy input before anything
    is saved; see the docs (Models and model files) for the format. A "module:function" arch found next to FILE
    or in the current directory keeps working from any directory (python_path). A PC
    variant replaced without weights in FILE keeps the feedback weights of its previous
    entry (one note says so) unless --drop-weights; one without any is marked untrained.
    """
    from pcbench import api
    from pcbench.registry.spec import untrained_message

    registered = api.register_file(file, replace=replace, drop_weights=drop_weights)
    for spec in registered:
        click.echo(f"registered {spec.name} ({spec.variant})")
    _warn([untrained_message(spec) for spec in registered if spec.untrained_feedback])


@cli.command()
@click.argument("name")
def unregister(name: str) -> None:
    """Remove NAME from the user registry, also when the entry is broken."""
    from pcbench import api

    api.unregister(name)
    click.echo(f"removed {name}")


@cli.command("train-feedback")
@click.argument("model")
@click.option("--dataset", help="Training data set (default: the model's dataset).")
@click.option("--root", type=click.Path(path_type=Path), help="Local root of the data set.")
@click.option("--split", default="train", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), help="Default: the model's preset.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Default: the model's preset.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Default: the model's preset.")
@click.option("--optimizer", help="sgd, rmsprop, adam or adamw (default: the model's preset).")
@click.option("--weight-decay", type=click.FloatRange(min=0), help="Default: the model's preset.")
@click.option("--limit", type=click.IntRange(min=1), help="Train on a seeded, stratified subset of N samples.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Batch order and subset.")
@click.option(
    "--hyperparameters",
    "hyperparameter_epochs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Then learn beta, lambda, alpha per PCoder for N epochs (cross-entropy over all timesteps).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:<index>.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Feedback weights file (default: where the model expects it, in $PCBENCH_WEIGHTS).",
)
@click.option("--name", "entry_name", help="User registry entry for the trained variant (default: see above).")
def train_feedback(
    model: str,
    dataset: str | None,
    root: Path | None,
    split: str,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    optimizer: str | None,
    weight_decay: float | None,
    limit: int | None,
    seed: int,
    hyperparameter_epochs: int,
    device: str,
    out: Path | None,
    entry_name: str | None,
) -> None:
    """Train MODEL's feedback predictors (reconstruction loss, backbone frozen).

    Optimiser and schedule default to the model's reference preset (PVGG16: SGD,
    PEfficientNetB0: RMSprop, PResNet18: AdamW; lr 1e-3, weight decay 5e-4). A checkpoint
    is written after every epoch; rerun the same command to resume. The trained variant:
    a user entry MODEL is updated in place; a zoo model trained to its default --out
    loads the file itself; otherwise a user entry --name (default MODEL-trained) is saved.
    """
    from pcbench import api

    settings = api.feedback_settings(
        model,
        dataset=dataset,
        split=split,
        root=root,
        limit=limit,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        seed=seed,
        hyperparameter_epochs=hyperparameter_epochs,
    )
    result = api.train_feedback(model, settings, device, out=out, entry_name=entry_name)
    losses = ", ".join(f"{module} {loss:.4g}" for module, loss in result.losses.items())
    click.echo(f"feedback weights written to {result.weights} (final reconstruction loss: {losses})")
    if result.registered:
        click.echo(f"registered {result.registered} (pcbench models show {result.registered})")
    else:
        click.echo(f"{model} loads them (pcbench models show {model})")


@cli.command("import-feedback")
@click.argument("model")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Feedback weights file (default: where the model expects it, in $PCBENCH_WEIGHTS).",
)
def import_feedback(model: str, files: tuple[Path, ...], out: Path | None) -> None:
    """Import MODEL's feedback predictors from Predify checkpoints.

    FILES: one file per PCoder in PCoder order (the predictor's state dict, or a training
    checkpoint with 'pcoderweights'), or one whole network's state dict (pcoder<n>.pmodule.*).
    Every shape is checked before anything is written; ffm/fbm/erm found in a network file
    are recorded with the weights.
    """
    from pcbench import api

    result = api.import_feedback(model, files, out=out)
    sources = ", ".join(f"{entry['file']} ({entry['format']})" for entry in result.record["imported"])
    click.echo(f"feedback weights written to {result.weights} from {sources}")
    hyperparameters = result.record.get("imported_hyperparameters")
    if hyperparameters:
        click.echo(f"recorded, not applied: {hyperparameters} (pcbench models show {model})")


@cli.command()
def suites() -> None:
    """List the built-in suites."""
    from pcbench import api

    for name, description in api.describe_suites():
        click.echo(f"{name:<20} {description}")


@cli.command()
@click.argument("kind", type=click.Choice(["suite", "models"]))
def schema(kind: str) -> None:
    """Print the JSON Schema of a suite file or a model file.

    Point your editor at it: a first line ``#:schema ./suite.json`` in a TOML file (Taplo,
    Even Better TOML), as the built-in suites do with the copy in schema/.
    """
    import json

    from pcbench import api

    click.echo(json.dumps(api.schema(kind), indent=2, ensure_ascii=False))


@cli.group()
def cache() -> None:
    """The on-disk cache of generated corruptions and decoded image folders.

    Entries live under $PCBENCH_HOME (corruptions/, datasets/); each is checksummed and
    regenerated when damaged. Trained embedded models are not part of it.
    """


@cache.command("info")
def cache_info() -> None:
    """Entries and disk use per data set and corruption (or decoded split)."""
    from pcbench import api
    from pcbench.paths import pcbench_home

    usage = api.cache_usage()
    click.echo(f"cache: {pcbench_home()}")
    click.echo(f"{'dataset':<16}{'kind':<13}{'group':<20}{'entries':>8}{'size':>11}")
    for row in usage:
        click.echo(f"{row.dataset:<16}{row.kind:<13}{row.group:<20}{row.entries:>8}{_size(row.nbytes):>11}")
    total = sum(row.nbytes for row in usage)
    click.echo(f"{'total':<49}{sum(row.entries for row in usage):>8}{_size(total):>11}")


@cache.command("clear")
@click.option("--dataset", help="Only this data set's entries: one of the data sets `cache info` lists.")
def cache_clear(dataset: str | None) -> None:
    """Delete cached corruptions and decoded images (all, or one data set's).

    Only corruptions/ and datasets/ under $PCBENCH_HOME are touched; symbolic links are
    removed, never followed. Entries another process is writing are kept.
    """
    from pcbench import api

    cleared = api.clear_cache(dataset)
    entries = f"{cleared.entries} entr{'y' if cleared.entries == 1 else 'ies'}"
    temps = f"{cleared.stale_temp_files} stale temporary file{'' if cleared.stale_temp_files == 1 else 's'}"
    in_use = f"; kept {cleared.in_use} being written by another process" if cleared.in_use else ""
    click.echo(f"removed {_size(cleared.nbytes)} ({entries}, {temps}){in_use}")


def _size(nbytes: float) -> str:
    """Bytes in binary units, e.g. ``1.5 MiB``."""
    for unit in ("B", "KiB", "MiB"):
        if nbytes < 1024:
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} GiB"


def _leaderboard(
    suite: str | Suite,
    results: tuple[Path, ...],
    baseline: str | None,
    timestep: str,
    sort: str | None,
    on_conflict: str,
) -> Leaderboard:
    """The leaderboard of SUITE from the merged result directories, its warnings on stderr."""
    from pcbench import api

    board = api.leaderboard(
        suite, results=results, baseline=baseline, timestep=timestep, sort=sort, on_conflict=on_conflict
    )
    _warn(board.results.warnings)
    return board


def _warn(warnings: Sequence[str]) -> None:
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def main() -> None:
    """Console entry point: every command runs inside the process error boundary
    (:func:`pcbench.boundary.guarded`), so an expected failure is one ``error:`` line with exit
    status 2, Ctrl-C exits with 130, and a bug shows its traceback and exits with 1."""
    guarded(lambda: cli.main(standalone_mode=False))
