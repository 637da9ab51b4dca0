"""The documentation: the README stays short, and the MkDocs site builds with ``--strict``
(no broken link, anchor or API reference) with a reference entry for every export of
``pcbench`` and every command of the CLI."""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import click
import pytest

import pcbench
from pcbench.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def load_hooks():
    """``docs/hooks.py``, the site's MkDocs hooks (not a package module: loaded from its file)."""
    spec = importlib.util.spec_from_file_location("pcbench_docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as ``mkdocs build --strict`` builds it, into a temporary directory."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=out,  # anywhere: the snippets (README.md) are read from the repository root
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def anchors(page: Path) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', page.read_text(encoding="utf-8")))


def test_the_api_page_documents_every_export_under_its_defining_module(site):
    page = site / "reference" / "api" / "index.html"
    ids = anchors(page)
    assert re.findall(r":(?:mod|func|class|meth):|::</p>", page.read_text(encoding="utf-8")) == []
    exports = pcbench._EXPORTS
    assert set(pcbench.__all__) == {*exports, "__version__"}
    missing = sorted(f"{module}.{name}" for name, module in exports.items() if f"{module}.{name}" not in ids)
    assert missing == []


def command_paths(group: click.Group, prefix: str = "pcbench") -> list[str]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            paths += command_paths(command, f"{prefix} {name}")
    return paths


def test_the_cli_page_documents_every_command(site):
    ids = anchors(site / "reference" / "cli" / "index.html")
    commands = command_paths(cli)
    assert "pcbench models show" in commands and "pcbench cache clear" in commands
    assert [path for path in commands if path.replace(" ", "-") not in ids] == []


def test_the_tutorial_shows_the_readme_script_itself(site):
    """The README's example is included, not copied: the tutorial page carries its code."""
    page = (site / "tutorials" / "own-model" / "index.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", page)
    assert 'name="my-pcnn", base="my-cnn"' in text.replace("&quot;", '"')
    assert "--8&lt;--" not in page and "start:example" not in page


def test_the_committed_example_is_published(site):
    assert (site / "example" / "quick-report" / "index.html").is_file()
    assert (site / "example" / "quick-plots" / "variant-vs-base.png").read_bytes() == (
        ROOT / "leaderboards" / "quick-plots" / "variant-vs-base.png"
    ).read_bytes()


def test_the_readme_is_short_and_its_relative_links_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [target for target in targets if "://" not in target]
    assert "docs/getting-started.md" in local
    assert [target for target in local if not (ROOT / target).exists()] == []


def headline() -> dict[str, str]:
    """The committed example's headline figures, formatted as the README and the home page write them."""
    boards = ROOT / "leaderboards"
    summary = {row["model"]: row for row in csv.DictReader((boards / "quick-summary.csv").open())}
    long = {(r["model"], r["metric"], r["timestep"]): r for r in csv.DictReader((boards / "quick.csv").open())}
    base, pc = summary["digits-cnn"], summary["digits-pcnn"]
    rce = long[("digits-pcnn", "relative_corruption_error", pc["last_timestep"])]

    def acc(row: dict[str, str], metric: str) -> str:
        return f"{100 * float(row[metric + ':last']):.1f} %"

    def p(metric: str) -> str:
        return f"p = {float(pc['p_' + metric + ':last']):.2g}"

    ci = f"95 % CI {float(rce['ci_low']):.4g}–{float(rce['ci_high']):.4g}"
    return {
        "t": f"(t = {pc['last_timestep']})",
        "clean": f"| clean accuracy | {acc(base, 'clean_acc')} | {acc(pc, 'clean_acc')} | {p('clean_acc')} |",
        "corruption": f"| pooled corruption accuracy | {acc(base, 'corruption_acc')} | {acc(pc, 'corruption_acc')} | "
        f"{p('corruption_acc')} (pooled pairs, not independent) |",
        "rce": f"| Predify's relative corruption error (t = 0 is 1) | {base['relative_corruption_error:last']} | "
        f"{rce['value']} ({ci}) | bootstrap |",
        "robust": f"| best-known L∞ robust accuracy, ε = 0.1 | {acc(base, 'best_known_linf@0.1_acc')} | "
        f"{acc(pc, 'best_known_linf@0.1_acc')} | {p('best_known_linf@0.1_acc')} |",
        "home": f"{rce['value']}, {ci}",
    }


def test_the_readme_headline_is_the_committed_example():
    """The README's table equals the committed leaderboard (rerun with the example: update them together)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    figures = headline()
    assert f"| at the last timestep {figures['t']} | `digits-cnn` | `digits-pcnn` | paired test |" in lines
    assert [figures[key] in lines for key in ("clean", "corruption", "rce", "robust")] == [True] * 4
    assert figures["home"] in (ROOT / "docs" / "index.md").read_text(encoding="utf-8").replace("\n", " ")


def test_the_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line.strip()]
    command = ci[-1]
    assert command.startswith("python3.11 -m venv .venv && ") and command.endswith("python -m pytest")
    block = readme.split("# 2. set up, lint and run the tests\n", 1)[1].split("\n", 1)[0]
    assert block == command


def test_an_export_no_section_names_is_documented_under_more():
    exports = {"run": "pcbench.api", "zz_new": "pcbench.new", "Stepwise": "pcbench.models.stepwise"}
    page = load_hooks().api_members(exports)
    assert page == (
        "## Models\n\n::: pcbench.models.stepwise.Stepwise\n\n"
        "## Running a suite\n\n::: pcbench.api.run\n\n"
        "## More\n\n::: pcbench.new.zz_new\n"
    )


def test_rst_roles_and_literal_block_markers_are_tidied_on_the_api_page_only():
    hooks = load_hooks()
    html = "<p>see :func:<code>run</code> and :mod:<code>pcbench.api</code>.</p><p>Example (Predify)::</p>"

    def page(uri: str) -> SimpleNamespace:
        return SimpleNamespace(file=SimpleNamespace(src_uri=uri))

    assert hooks.on_page_content(html, page("reference/api.md")) == (
        "<p>see <code>run</code> and <code>pcbench.api</code>.</p><p>Example (Predify):</p>"
    )
    assert hooks.on_page_content(html, page("design.md")) == html
