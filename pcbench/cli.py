"""The ``pcbench`` command line: run suites, compare results, manage the model registry."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pcbench.errors import PcbenchError


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
@click.option("--leaderboards", type=click.Path(path_type=Path), default=Path("leaderboards"), show_default=True, help="Directory for <suite>.csv.")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate a seeded, stratified subset of N samples.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:<index>.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), help="Override the suite seed (corruption noise, attack random starts).")
@click.option("--dry-run", is_flag=True, help="Print the cell grid and the forward passes it implies; evaluate nothing.")
@click.option("--no-resume", is_flag=True, help="Recompute cells that are already stored.")
@click.option("--checkpointing", is_flag=True, help="Activation checkpointing across PC timesteps: less memory in attacks, ~1 extra sweep per step; same numbers.")
def run(suite: str, models: tuple[str, ...], results: Path, leaderboards: Path, limit: int | None,
        device: str, batch_size: int, seed: int | None, dry_run: bool, no_resume: bool,
        checkpointing: bool) -> None:
    """Evaluate SUITE (a built-in suite name or a TOML path) and print its leaderboard.

    Every (model, perturbation) cell is evaluated once for all timesteps and committed
    atomically; rerunning skips finished cells, so an interrupted run resumes.
    """
    from pcbench.runner import run_suite
    from pcbench.runner.plan import format_plan
    from pcbench.suite import load_suite

    loaded = load_suite(suite).with_overrides(seed=seed, limit=limit, models=models or None)
    if dry_run:
        click.echo(format_plan(loaded))
        return
    summary = run_suite(loaded, results_dir=results, device=device, batch_size=batch_size,
                        resume=not no_resume, checkpointing=checkpointing)
    click.echo(f"{len(summary.evaluated)} cells evaluated, {len(summary.skipped)} already stored "
               f"({summary.results})", err=True)
    _write_and_print_leaderboard(loaded.name, results, leaderboards)


@cli.command()
@click.argument("suite")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--leaderboards", type=click.Path(path_type=Path), default=Path("leaderboards"), show_default=True)
def compare(suite: str, results: Path, leaderboards: Path) -> None:
    """Rebuild <leaderboards>/<SUITE>.csv from stored results and print it.

    One row per model and timestep: clean accuracy, pooled corruption accuracy, accuracy
    per corruption and per attack/ε, for whatever cells are stored.
    """
    _write_and_print_leaderboard(_suite_name(suite), results, leaderboards)


@cli.group(invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List registered models (name, variant, base, parameters, timesteps, source)."""
    if ctx.invoked_subcommand is None:
        from pcbench.registry.listing import format_model_table

        click.echo(format_model_table())


@models.command("show")
@click.argument("name")
def models_show(name: str) -> None:
    """Show one model: spec, PCoder table, parameters and weights."""
    from pcbench.registry.listing import format_model_card

    click.echo(format_model_card(name))


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def register(file: Path) -> None:
    """Register the models in FILE (TOML, [models.NAME] tables) in the user registry.

    Each model is built with its weights and run once on a dummy input before anything
    is saved; see the README for the format.
    """
    from pcbench.registry.user_file import register_from_file

    for spec in register_from_file(file):
        click.echo(f"registered {spec.name} ({spec.variant})")


@cli.command()
@click.argument("name")
def unregister(name: str) -> None:
    """Remove NAME from the user registry."""
    from pcbench.registry.user_file import remove_from_user_file

    remove_from_user_file(name)
    click.echo(f"removed {name}")


@cli.command()
def suites() -> None:
    """List the built-in suites."""
    from pcbench.suite import builtin_suite_names, load_suite

    for name in builtin_suite_names():
        click.echo(f"{name:<20} {load_suite(name).description}")


def _suite_name(suite: str) -> str:
    from pcbench.suite import load_suite

    candidate = Path(suite)
    return load_suite(suite).name if candidate.suffix == ".toml" or candidate.exists() else suite


def _write_and_print_leaderboard(name: str, results: Path, leaderboards: Path) -> None:
    from pcbench.leaderboard import format_leaderboard, write_leaderboard
    from pcbench.store import read_scores

    path = leaderboards / f"{name}.csv"
    table = write_leaderboard(read_scores(results / name), path)
    click.echo(format_leaderboard(table))
    click.echo(f"leaderboard written to {path}", err=True)


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
