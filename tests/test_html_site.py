"""The HTML leaderboard: its table equals the summary CSV, hostile names stay text, and the
site loads in headless Chromium with no console error and no request but its own pages.

The fast tests read the written files with the stdlib's HTML parser; the browser tests
(:mod:`chromium`) install Debian's ``chromium`` when missing and running as root, else skip.
The synthetic leaderboard is ``test_compare``'s scenario (ff, and its PC variant pc at
timesteps 0-2), with hand-checked values; the committed example is checked when its site is
there (``leaderboards/quick-site``, written by ``pcbench report quick --html``).
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from chromium import Browser, find_chromium
from click.testing import CliRunner
from test_compare import SUITE, scenario, small, store, tables

from pcbench.cli import cli
from pcbench.errors import PcbenchError
from pcbench.leaderboards.board import CompareOptions, build_leaderboard, csv_paths, write_csvs
from pcbench.leaderboards.differences import variant_differences
from pcbench.leaderboards.html import model_card_text, write_site
from pcbench.leaderboards.merge import Results
from pcbench.registry import get_model_spec
from pcbench.registry.weight_files import PACKAGE_DIR

REPO = Path(__file__).resolve().parents[1]
COMMITTED_SITE = REPO / "leaderboards" / "quick-site"
#: Model names that would run script or make a request if they reached the page as markup.
HOSTILE_PC = "<script>window.pwned = 1</script>"
HOSTILE_FF = '<img src="http://example.invalid/x.png" onerror="window.pwned = 2">&amp;'


class BoardTable(HTMLParser):
    """Per row of the board table's body: ``{data-column: data-value}`` of its elements, and
    ``masking:<where>`` -> the text of the masking cells."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self._inside = self._body = False
        self._flags: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "table" and "board" in found.get("class", "").split():
            self._inside = True
        elif self._inside and tag == "tbody":
            self._body = True
        elif self._body and tag == "tr":
            self.rows.append({})
        elif self._body and "data-column" in found:
            self.rows[-1][found["data-column"]] = found["data-value"]
        if self._body and "data-flags" in found:
            self._flags = f"masking:{found['data-flags']}"
            self.rows[-1][self._flags] = ""

    def handle_data(self, data: str) -> None:
        if self._flags:
            self.rows[-1][self._flags] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._flags = None
        elif tag == "table":
            self._inside = self._body = False


def expected_rows(summary_csv: Path) -> list[dict[str, str]]:
    """What the table must hold, from the CSV alone: every value column of the shown metrics
    at last and best, Δ and p where the CSV has them, and the failed masking checks."""
    frame = pd.read_csv(summary_csv, dtype=str, keep_default_na=False)
    metrics = [
        column.removesuffix(":last")
        for column in frame.columns
        if column.endswith(":last")
        and not column.startswith(("delta_", "p_", "flag_", "decisive_"))
        and (column.startswith(("clean_acc", "corruption_acc", "mce", "best_known_")))
    ]
    rows = []
    for _, row in frame.iterrows():
        expected = {column: row[column] for column in ("model", "variant", "base", "last_timestep", "best_timestep")}
        for where in ("last", "best"):
            for metric in metrics:
                expected[f"{metric}:{where}"] = row[f"{metric}:{where}"]
                for prefix in ("delta", "p"):
                    if row.get(f"{prefix}_{metric}:{where}", ""):
                        expected[f"{prefix}_{metric}:{where}"] = row[f"{prefix}_{metric}:{where}"]
            flags = {c: row[c] for c in frame.columns if c.startswith("flag_") and c.endswith(f":{where}")}
            failed = [c.removeprefix("flag_").removesuffix(f":{where}") for c, v in flags.items() if v == "True"]
            checked = any(value != "" for value in flags.values())
            expected[f"masking:{where}"] = ",".join(failed) or ("-" if checked else "?")
        rows.append(expected)
    return rows


def hostile_board():
    """The scenario with ``pc`` and ``ff`` renamed to names full of markup."""
    scores, predictions = tables(scenario())
    names = {"pc": HOSTILE_PC, "ff": HOSTILE_FF}
    for frame, columns in ((scores, ("model", "base")), (predictions, ("model",))):
        for column in columns:
            frame[column] = frame[column].replace(names)
    return build_leaderboard(Results(SUITE, (Path("memory"),), scores, predictions), CompareOptions())


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The hostile scenario's CSVs and site, in one directory."""
    directory = tmp_path_factory.mktemp("html")
    board = hostile_board()
    write_csvs(board, directory)
    write_site([board], directory / "site")
    return directory


def test_table_equals_summary_csv_with_hand_checked_values(site: Path) -> None:
    rows = BoardTable((site / "site" / "index.html").read_text()).rows
    assert rows == expected_rows(csv_paths(site, SUITE)["summary"])
    # sorted by clean accuracy at the last timestep: ff 9/10 at t=0, then pc 8/10 at t=2
    assert [row["model"] for row in rows] == [HOSTILE_FF, HOSTILE_PC]
    pc = rows[1]
    assert (pc["clean_acc:last"], pc["clean_acc:best"], pc["best_timestep"]) == ("0.8", "1", "1")
    assert (pc["delta_best_known_linf@0.1_acc:last"], pc["p_best_known_linf@0.1_acc:last"]) == ("0.3", "0.25")


def test_delta_shows_the_paired_interval_of_its_timestep(site: Path) -> None:
    board = hostile_board()
    differences = variant_differences(board.outcomes, board.models, board.options.bootstrap).set_index(
        ["model", "metric", "timestep"]
    )
    text = (site / "site" / "index.html").read_text()
    for where, timestep, value in (("last", 2, "-10.0"), ("best", 1, "+10.0")):
        low, high = differences.loc[(HOSTILE_PC, "clean_acc", timestep), ["ci_low", "ci_high"]]
        shown = f'Δ {value} <span class="ci">[{100 * low:+.1f}, {100 * high:+.1f}]</span>'
        assert re.search(rf'data-column="delta_clean_acc:{where}" data-value="[^"]*">{re.escape(shown)} <span', text)


def test_hostile_names_stay_text_and_get_safe_file_names(site: Path) -> None:
    pages = sorted((site / "site").rglob("*.html"))
    names = sorted(page.relative_to(site / "site").as_posix() for page in pages)
    hashed = [f"models/model-{hashlib.sha256(n.encode()).hexdigest()[:12]}.html" for n in (HOSTILE_FF, HOSTILE_PC)]
    assert names == sorted(["index.html", *hashed])
    for page in pages:
        text = page.read_text()
        assert text.count("<script") == 1 and "<img" not in text and "window.pwned" in text  # escaped, not gone
        script = re.search(r"<script>(.*?)</script>", text, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"script-src 'sha256-{digest}'" in text and "default-src 'none'" in text
    pc_page = (site / "site" / hashed[1]).read_text()
    assert f"<h1>{HOSTILE_PC.replace('<', '&lt;').replace('>', '&gt;')}</h1>" in pc_page


def test_model_cards_name_packaged_weights_by_reference() -> None:
    card = model_card_text("digits-pcnn")
    assert "weights             pcbench:models/weights/digits-pcnn-feedback.pt\n" in card
    assert "base weights        pcbench:models/weights/digits-cnn.pt\n" in card and str(PACKAGE_DIR) not in card
    assert model_card_text("<b>") == "no model card: " + card_error("<b>")


def card_error(name: str) -> str:
    """The one-line error of asking the registry for an unknown model."""
    with pytest.raises(PcbenchError) as raised:
        get_model_spec(name)
    return str(raised.value)


def test_report_html_and_site_commands(tmp_path: Path, run_main) -> None:
    results = store(tmp_path / "results", small())
    shutil.copytree(results / SUITE, results / "syn2")  # a second suite with the same results
    where = ["--results", str(results), "--leaderboards", str(tmp_path)]
    output = invoke("report", SUITE, *where, "--html")
    index = tmp_path / "syn-site" / "index.html"
    assert output.split() == [str(tmp_path / "syn-report.md"), str(index)]
    assert BoardTable(index.read_text()).rows == expected_rows(tmp_path / "syn-summary.csv")
    assert (tmp_path / "syn-site" / "models" / "pc.html").is_file()
    assert invoke("site", SUITE, "syn2", *where).strip() == str(tmp_path / "site" / "index.html")
    listing = (tmp_path / "site" / "index.html").read_text()
    assert 'href="syn/index.html"' in listing and 'href="syn2/index.html"' in listing
    assert (tmp_path / "site" / "syn2" / "models" / "ff.html").is_file()
    code, error = run_main(["site", SUITE, SUITE, *where])
    assert (
        code == 2
        and error == "error: suite 'syn' given twice for one site: name each suite once\n"
        and error.count("\n") == 1
    )


def invoke(*args: str) -> str:
    """``pcbench ARGS``'s output; the command must succeed."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


# --- in the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    path, reason = find_chromium()
    if path is None:
        pytest.skip(reason)
    return path


def check_pages(browser: Browser, directory: Path) -> None:
    """Open every page of the site: no console error or warning, no request but the pages."""
    pages = sorted(directory.rglob("*.html"))
    for page in pages:
        browser.open(page)
        assert browser.evaluate("window.pwned === undefined")
    assert browser.problems() == []
    assert browser.requests() == [page.resolve().as_uri() for page in pages]


def test_site_in_chromium(site: Path, chromium: str, tmp_path: Path) -> None:
    with Browser(chromium, tmp_path / "profile") as browser:
        check_pages(browser, site / "site")
        browser.open(site / "site" / "index.html")
        dom = browser.evaluate("document.documentElement.outerHTML")
        assert BoardTable(dom).rows == expected_rows(csv_paths(site, SUITE)["summary"])
        order = "Array.from(document.querySelectorAll('table.board tbody tr')).map(r => r.cells[0].dataset.value)"
        clean = "document.querySelectorAll('table.board th.at-last')[1]"
        browser.evaluate(f"{clean}.click()")  # descending: ff (90 %) first
        assert browser.evaluate(order) == [HOSTILE_FF, HOSTILE_PC]
        browser.evaluate(f"{clean}.click()")  # ascending
        assert browser.evaluate(order) == [HOSTILE_PC, HOSTILE_FF]
        shown = "getComputedStyle(document.querySelector('[data-column=\"clean_acc:best\"]')).display"
        assert browser.evaluate(shown) == "none"
        browser.evaluate("document.querySelector('input[value=best]').click()")
        assert browser.evaluate(shown) == "table-cell"
        visible = (
            "Array.from(document.querySelectorAll('figure.curve')).filter(f => !f.hidden)"
            ".map(f => f.dataset.metric + ' ' + f.dataset.view)"
        )
        choose = (
            "(m, v) => { const metric = document.getElementById('metric'); metric.value = m;"
            " document.getElementById('view').value = v; metric.dispatchEvent(new Event('change')); }"
        )
        assert browser.evaluate(visible) == ["clean_acc value"]
        browser.evaluate(f"({choose})('best_known_linf@0.1_acc', 'delta')")
        assert browser.evaluate(visible) == ["best_known_linf@0.1_acc delta"]
        assert browser.evaluate("document.getElementById('no-curve').hidden")
        browser.evaluate(f"({choose})('fgsm@0.1_acc', 'delta')")  # no paired difference for a single attack
        assert browser.evaluate(visible) == [] and not browser.evaluate("document.getElementById('no-curve').hidden")
        assert browser.problems() == []
        screenshot = browser.screenshot(tmp_path / "site.png")
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")


@pytest.mark.skipif(not COMMITTED_SITE.is_dir(), reason="leaderboards/quick-site is not committed yet")
def test_committed_quick_site_in_chromium(chromium: str, tmp_path: Path) -> None:
    with Browser(chromium, tmp_path / "profile") as browser:
        check_pages(browser, COMMITTED_SITE)
        browser.open(COMMITTED_SITE / "index.html")
        rows = BoardTable(browser.evaluate("document.documentElement.outerHTML")).rows
        assert browser.evaluate("document.querySelectorAll('figure.curve svg polyline').length") > 0
        screenshot = browser.screenshot(tmp_path / "quick-site.png")
    assert rows == expected_rows(REPO / "leaderboards" / "quick-summary.csv")
    print(f"screenshot: {screenshot}")
