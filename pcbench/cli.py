"""The ``pcbench`` command line: run suites, compare results, manage the model registry."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pcbench.errors import PcbenchError

if TYPE_CHECKING:
    from pcbench.leaderboard.board import Leaderboard


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
@click.option("-m", "--model", "models", multiple=True, help="Model to evaluate (repeatable); default: the suite's models.")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True, help="Directory holding <suite>/scores and <suite>/predictions.")
@click.option("--leaderboards", type=click.Path(path_type=Path), default=Path("leaderboards"), show_default=True, help="Directory for the leaderboard CSVs (<suite>.csv, <suite>-timesteps.csv, <suite>-summary.csv).")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate a seeded, stratified subset of N samples.")
@click.option("--root", type=click.Path(path_type=Path), help="Local root of the suite's data set (replaces dataset.root).")
@click.option("--corruptions-root", type=click.Path(path_type=Path), help="Local root of the precomputed -C set (replaces corruptions.root).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:<index>.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), help="Override the suite seed (corruption noise, attack random starts).")
@click.option("--dry-run", is_flag=True, help="Print the cell grid and the forward passes it implies; evaluate nothing.")
@click.option("--no-resume", is_flag=True, help="Recompute cells that are already stored.")
@click.option("--replace", is_flag=True, help="Drop the stored cells of these models that were evaluated on another evaluation set (e.g. another --limit) instead of refusing the run.")
@click.option("--checkpointing", is_flag=True, help="Activation checkpointing across PC timesteps: less memory in attacks, ~1 extra sweep per step; same numbers.")
@click.option("--workers", type=click.IntRange(min=1), help="Processes generating corruptions / decoding images; default: all CPUs. Results do not depend on it.")
@click.option("--no-wait", is_flag=True, help="Fail at once, naming the holder, when another run holds <results>/<suite>/.lock (default: wait for it).")
def run(suite: str, models: tuple[str, ...], results: Path, leaderboards: Path, limit: int | None,
        device: str, batch_size: int, seed: int | None, dry_run: bool, no_resume: bool,
        checkpointing: bool, root: Path | None, corruptions_root: Path | None, workers: int | None,
        replace: bool, no_wait: bool) -> None:
    """Evaluate SUITE (a built-in suite name or a TOML path) and print its leaderboard.

    Every (model, perturbation) cell is evaluated once for all timesteps and committed
    atomically; rerunning skips finished cells, so an interrupted run resumes. One run
    writes to a results directory at a time; a second one waits for it (see --no-wait).
    """
    from pcbench.runner import run_suite
    from pcbench.runner.plan import format_plan
    from pcbench.suite import load_suite

    loaded = load_suite(suite, dataset_root=root, corruptions_root=corruptions_root).with_overrides(seed=seed, limit=limit, models=models or None)
    if dry_run:
        click.echo(format_plan(loaded))
        return
    summary = run_suite(loaded, results_dir=results, device=device, batch_size=batch_size,
                        resume=not no_resume, checkpointing=checkpointing, workers=workers, replace=replace,
                        wait=not no_wait)
    click.echo(f"{len(summary.evaluated)} cells evaluated, {len(summary.skipped)} already stored "
               f"({summary.results})", err=True)
    _write_and_print_leaderboard(loaded.name, results, leaderboards)


def _leaderboard_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options shared by ``compare``, ``plot`` and ``report``."""
    options = [
        click.option("--results", multiple=True, type=click.Path(path_type=Path), default=(Path("results"),),
                     show_default=True, help="Directory holding <suite>/scores and <suite>/predictions; repeat to "
                     "merge the results of several runs or machines."),
        click.option("--leaderboards", type=click.Path(path_type=Path), default=Path("leaderboards"),
                     show_default=True, help="Output directory."),
        click.option("--baseline", help="Model that mCE and relative mCE are normalised by (default: AlexNet's "
                     "ImageNet-C errors for an imagenet suite, else no mCE)."),
        click.option("--timestep", default="last", show_default=True,
                     help="Timestep shown, sorted by and used for the heatmap: last, best (by --sort) or a number."),
        click.option("--sort", help="Metric to sort by and to pick the best timestep with: any metric of "
                     "<suite>.csv (default: clean_acc)."),
        click.option("--on-conflict", default="error", show_default=True,
                     help="A cell stored twice with different provenance: error, or first (keep the first --results "
                     "directory's copy)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command()
@click.argument("suite")
@_leaderboard_options
@click.option("--against", type=click.Path(path_type=Path), help="Reference long leaderboard CSV (e.g. the "
              "committed leaderboards/<suite>.csv): compare this machine's rows with it, print every row "
              "that is not equal and exit with status 1 unless reproduced.")
def compare(suite: str, results: tuple[Path, ...], leaderboards: Path, baseline: str | None, timestep: str,
            sort: str | None, on_conflict: str, against: Path | None) -> None:
    """Write the leaderboard CSVs of SUITE from stored results and print the summary.

    \b
    <leaderboards>/<SUITE>.csv            long: model, metric, timestep, value, 95 % CI, n
    <leaderboards>/<SUITE>-timesteps.csv  wide: one row per model and timestep
    <leaderboards>/<SUITE>-summary.csv    one row per model: timestep 0, last and best,
                                          PC variant vs its base (McNemar), masking flags

    With --against, non-attack metrics must be equal as written (6 significant
    digits), attack metrics within max(2, 1 % of n) samples (see the README).
    """
    from pcbench.leaderboard.board import write_csvs
    from pcbench.leaderboard.reproduce import compare_to_reference, format_reproduction, read_reference
    from pcbench.leaderboard.view import format_summary

    reference = None if against is None else read_reference(against)  # before the CSVs may overwrite it
    board = _build_leaderboard(suite, results, baseline, timestep, sort, on_conflict)
    paths = write_csvs(board, leaderboards)
    click.echo(format_summary(board))
    click.echo(f"leaderboard written to {', '.join(map(str, paths))}", err=True)
    if reference is not None:
        reproduction = compare_to_reference(board.metrics, reference)
        click.echo(format_reproduction(reproduction))
        if not reproduction.reproduced:
            sys.exit(1)


@cli.command()
@click.argument("suite")
@_leaderboard_options
def plot(suite: str, results: tuple[Path, ...], leaderboards: Path, baseline: str | None, timestep: str,
         sort: str | None, on_conflict: str) -> None:
    """Draw the plots of SUITE as PNGs into <leaderboards>/<SUITE>-plots/.

    Accuracy vs timestep (clean, corruption families, each attack and ε), accuracy vs
    severity, a model × corruption heatmap, Predify's relative corruption error and
    accuracy vs ε.
    """
    from pcbench.leaderboard.plots import plots_dir, write_plots

    board = _build_leaderboard(suite, results, baseline, timestep, sort, on_conflict)
    for path in write_plots(board, plots_dir(leaderboards, board.suite)):
        click.echo(path)


@cli.command()
@click.argument("suite")
@_leaderboard_options
def report(suite: str, results: tuple[Path, ...], leaderboards: Path, baseline: str | None, timestep: str,
           sort: str | None, on_conflict: str) -> None:
    """Write the CSVs, the plots and a Markdown report <leaderboards>/<SUITE>-report.md.

    The report holds the summary table, a "did the dynamics help?" table per PC variant,
    the plots (relative links) and the provenance of every model and run.
    """
    from pcbench.leaderboard.board import write_csvs
    from pcbench.leaderboard.plots import plots_dir, write_plots
    from pcbench.leaderboard.report import report_path, write_report

    board = _build_leaderboard(suite, results, baseline, timestep, sort, on_conflict)
    write_csvs(board, leaderboards)
    plots = write_plots(board, plots_dir(leaderboards, board.suite))
    click.echo(write_report(board, report_path(leaderboards, board.suite), plots))


@cli.group(invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List registered models (name, variant, base, parameters, timesteps, source).

    Broken user registry entries are left out, with one warning each on stderr.
    """
    if ctx.invoked_subcommand is None:
        from pcbench.registry.listing import format_model_table

        table, warnings = format_model_table()
        click.echo(table)
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)


@models.command("show")
@click.argument("name")
def models_show(name: str) -> None:
    """Show one model: spec, PCoder table, parameters and weights."""
    from pcbench.registry.listing import format_model_card

    click.echo(format_model_card(name))


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--replace", is_flag=True, help="Replace user registry entries of the same names (working or "
              "broken); built-in and other models are never replaced.")
def register(file: Path, replace: bool) -> None:
    """Register the models in FILE (TOML, [models.NAME] tables) in the user registry.

    Each model is built with its weights and run once on a dummy input before anything
    is saved; see the README for the format. A "module:function" arch found next to FILE
    or in the current directory keeps working from any directory (python_path).
    """
    from pcbench.registry.user_file import register_from_file

    for spec in register_from_file(file, replace=replace):
        click.echo(f"registered {spec.name} ({spec.variant})")


@cli.command()
@click.argument("name")
def unregister(name: str) -> None:
    """Remove NAME from the user registry, also when the entry is broken."""
    from pcbench.registry.user_file import remove_from_user_file

    remove_from_user_file(name)
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
@click.option("--hyperparameters", "hyperparameter_epochs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Then learn beta, lambda, alpha per PCoder for N epochs (cross-entropy over all timesteps).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:<index>.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Feedback weights file (default: where the model expects it, in $PCBENCH_WEIGHTS).")
@click.option("--name", "entry_name", help="User registry entry for the trained variant (default: see above).")
def train_feedback(model: str, dataset: str | None, root: Path | None, split: str, epochs: int | None,
                   batch_size: int | None, lr: float | None, optimizer: str | None, weight_decay: float | None,
                   limit: int | None, seed: int, hyperparameter_epochs: int, device: str, out: Path | None,
                   entry_name: str | None) -> None:
    """Train MODEL's feedback predictors (reconstruction loss, backbone frozen).

    Optimiser and schedule default to the model's reference preset (PVGG16: SGD,
    PEfficientNetB0: RMSprop, PResNet18: AdamW; lr 1e-3, weight decay 5e-4). A checkpoint
    is written after every epoch; rerun the same command to resume. The trained variant:
    a user entry MODEL is updated in place; a zoo model trained to its default --out
    loads the file itself; otherwise a user entry --name (default MODEL-trained) is saved.
    """
    from pcbench.models.zoo import feedback_preset
    from pcbench.registry.registry import get_model_spec
    from pcbench.runner.run import resolve_device
    from pcbench.training.feedback import FeedbackSettings, train_feedback as train

    dataset = dataset or get_model_spec(model).dataset
    if dataset is None:
        raise PcbenchError(f"model '{model}' names no dataset; pass --dataset")
    settings = FeedbackSettings.from_preset(
        feedback_preset(model), dataset, split=split,
        root=str(root) if root else None, limit=limit, epochs=epochs, batch_size=batch_size,
        optimizer=optimizer, lr=lr, weight_decay=weight_decay, seed=seed,
        hyperparameter_epochs=hyperparameter_epochs,
    )
    result = train(model, settings, resolve_device(device), out=out, entry_name=entry_name)
    losses = ", ".join(f"{module} {loss:.4g}" for module, loss in result.losses.items())
    click.echo(f"feedback weights written to {result.weights} (final reconstruction loss: {losses})")
    if result.registered:
        click.echo(f"registered {result.registered} (pcbench models show {result.registered})")
    else:
        click.echo(f"{model} loads them (pcbench models show {model})")


@cli.command()
def suites() -> None:
    """List the built-in suites."""
    from pcbench.suite import builtin_suite_names, load_suite

    for name in builtin_suite_names():
        try:
            description = load_suite(name).description
        except PcbenchError as exc:  # e.g. a data set root that is not set up yet
            description = f"(not runnable yet) {exc}"
        click.echo(f"{name:<20} {description}")


@cli.group()
def cache() -> None:
    """The on-disk cache of generated corruptions and decoded image folders.

    Entries live under $PCBENCH_HOME (corruptions/, datasets/); each is checksummed and
    regenerated when damaged. Trained embedded models are not part of it.
    """


@cache.command("info")
def cache_info() -> None:
    """Entries and disk use per data set and corruption (or decoded split)."""
    from pcbench.array_cache import cache_usage
    from pcbench.paths import pcbench_home

    usage = cache_usage()
    click.echo(f"cache: {pcbench_home()}")
    click.echo(f"{'dataset':<16}{'kind':<13}{'group':<20}{'entries':>8}{'size':>11}")
    for row in usage:
        click.echo(f"{row.dataset:<16}{row.kind:<13}{row.group:<20}{row.entries:>8}{_size(row.nbytes):>11}")
    total = sum(row.nbytes for row in usage)
    click.echo(f"{'total':<49}{sum(row.entries for row in usage):>8}{_size(total):>11}")


@cache.command("clear")
@click.option("--dataset", help="Only this data set's entries (e.g. digits, cifar10).")
def cache_clear(dataset: str | None) -> None:
    """Delete cached corruptions and decoded images (all, or one data set's)."""
    from pcbench.array_cache import clear_cache

    click.echo(f"removed {_size(clear_cache(dataset))}")


def _size(nbytes: float) -> str:
    """Bytes in binary units, e.g. ``1.5 MiB``."""
    for unit in ("B", "KiB", "MiB"):
        if nbytes < 1024:
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} GiB"


def _suite_name(suite: str) -> str:
    from pcbench.suite import load_suite

    candidate = Path(suite)
    return load_suite(suite).name if candidate.suffix == ".toml" or candidate.exists() else suite


def _build_leaderboard(suite: str, results: tuple[Path, ...], baseline: str | None, timestep: str,
                       sort: str | None, on_conflict: str) -> Leaderboard:
    """The leaderboard of SUITE from the merged result directories."""
    from pcbench.leaderboard.board import CompareOptions, build_leaderboard
    from pcbench.leaderboard.merge import load_results
    from pcbench.leaderboard.summary import parse_timestep

    options = CompareOptions(baseline=baseline, timestep=parse_timestep(timestep), sort=sort)
    board = build_leaderboard(load_results(results, _suite_name(suite), on_conflict), options)
    for warning in board.results.warnings:
        click.echo(f"warning: {warning}", err=True)
    return board


def _write_and_print_leaderboard(name: str, results: Path, leaderboards: Path) -> None:
    """After a run: the whole report (CSVs, plots, Markdown), so the folder stays consistent."""
    from pcbench.leaderboard import format_leaderboard
    from pcbench.leaderboard.board import write_csvs
    from pcbench.leaderboard.plots import plots_dir, write_plots
    from pcbench.leaderboard.report import report_path, write_report

    board = _build_leaderboard(name, (results,), None, "last", None, "error")
    paths = write_csvs(board, leaderboards)
    plots = write_plots(board, plots_dir(leaderboards, board.suite))
    paths.append(write_report(board, report_path(leaderboards, board.suite), plots))
    click.echo(format_leaderboard(board.timesteps))
    click.echo(f"leaderboard written to {', '.join(map(str, paths))}", err=True)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit status 2."""
    try:
        cli.main(standalone_mode=False)
    except PcbenchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("interrupted: finished cells are saved; run the same command to resume", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
