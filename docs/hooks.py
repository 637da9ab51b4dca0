"""MkDocs hooks of pcbench's documentation site (named in ``mkdocs.yml``; run by ``mkdocs build``).

- The Python API reference is generated from what ``import pcbench`` exports
  (``pcbench._EXPORTS``, name -> defining module): ``docs/reference/api.md`` holds the prose
  and the marker ``<!-- api-members -->``, which is replaced by one mkdocstrings block per
  export, grouped by :data:`SECTIONS`. An export no section names lands under *More*, so a
  new export is documented without editing this file, and a removed one never breaks the build.
- The reference of suite files and model files is generated from their JSON Schemas
  (``pcbench.schema``, the pydantic models that validate them): the marker
  ``<!-- schema: suite -->`` (or ``models``) becomes a table of keys per TOML table
  (:func:`schema_tables`).
- The committed example (``leaderboards/``) is published under ``example/`` and
  ``CONTRIBUTING.md`` as ``contributing.md``, read from where they live (no copies in ``docs/``).
- Snippets (``--8<-- "README.md:example"``) are read from the repository root, wherever
  ``mkdocs`` runs from.
- The docstrings' reStructuredText leftovers are tidied in the rendered API page: a role
  (``:func:`run```) shows as its code alone, ``Example::`` as ``Example:``.

Example (what the test command runs)::

    mkdocs build --strict --site-dir /tmp/site
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

MARKER = "<!-- api-members -->"
SCHEMA_MARKER = re.compile(r"<!-- schema: (suite|models) -->")
ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|exc|obj):(?=<code>)")
LITERAL_BLOCK = re.compile(r"(\S)::</p>")

#: Section title -> the exports it documents, in reading order.
SECTIONS: dict[str, tuple[str, ...]] = {
    "Models": ("list_models", "load_model", "wrap_pc", "Stepwise", "model_table", "model_card"),
    "Suites": ("list_suites", "load_suite", "describe_suites", "schema"),
    "Your own module": ("evaluate", "Evaluation"),
    "Running a suite": ("plan", "run", "status", "forget_run", "run_task"),
    "Executors": ("ExecutorOptions", "SlurmOptions", "RayOptions"),
    "Results and leaderboards": ("load_results", "leaderboard", "write_report", "write_site", "reproduce"),
    "Registry": (
        "register",
        "register_model",
        "register_file",
        "unregister",
        "get_model_spec",
        "list_model_specs",
        "ModelSpec",
        "PCConfig",
        "PCLayer",
    ),
    "Feedback training": ("feedback_settings", "train_feedback", "import_feedback"),
    "Cache": ("cache_usage", "clear_cache"),
    "Errors": ("PcbenchError",),
}


def api_members(exports: dict[str, str]) -> str:
    """The API page's generated part: a heading per section, a ``:::`` block per export.

    Example::

        >>> print(api_members({"run": "pcbench.api"}))
        ## Running a suite
        <BLANKLINE>
        ::: pcbench.api.run
        <BLANKLINE>
    """
    placed = {name for names in SECTIONS.values() for name in names}
    groups = [(title, [name for name in names if name in exports]) for title, names in SECTIONS.items()]
    groups.append(("More", sorted(name for name in exports if name not in placed)))
    lines: list[str] = []
    for title, names in groups:
        if names:
            lines += [f"## {title}", ""]
            lines += [line for name in names for line in (f"::: {exports[name]}.{name}", "")]
    return "\n".join(lines)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Point ``pymdownx.snippets`` at the repository root (its default is the working directory)."""
    root = Path(config.config_file_path).parent
    config.mdx_configs.setdefault("pymdownx.snippets", {})["base_path"] = [str(root)]
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the committed example and the contributing notes to the site."""
    root = Path(config.config_file_path).parent
    example = root / "leaderboards"
    for path in sorted(example.rglob("*")):
        if path.is_file():
            uri = f"example/{path.relative_to(example).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    files.append(File.generated(config, "contributing.md", abs_src_path=str(root / "CONTRIBUTING.md")))
    return files


def on_page_markdown(markdown: str, page: Page, **_: Any) -> str:
    """Fill the API page's marker with the generated reference, a schema marker with its tables."""
    import pcbench  # light: the exports are resolved lazily, nothing below the API is imported

    markdown = SCHEMA_MARKER.sub(lambda match: schema_tables(pcbench.schema(match[1])), markdown)
    if page.file.src_uri != "reference/api.md":
        return markdown
    return markdown.replace(MARKER, api_members(pcbench._EXPORTS))


def schema_tables(schema: dict[str, Any]) -> str:
    """A JSON Schema of a TOML file as Markdown: one table of keys per TOML table (the file's
    own first, then each table it refers to, by name), with each key's type, default and
    description.

    Example::

        >>> seed = {"type": "integer", "minimum": 0, "default": 0}
        >>> print(schema_tables({"title": "T", "properties": {"seed": seed}}))
        #### T
        <BLANKLINE>
        | Key | Type | Default | Description |
        |---|---|---|---|
        | `seed` | integer, ≥ 0 | `0` |  |
        <BLANKLINE>
    """
    lines: list[str] = []
    for table in [schema, *schema.get("$defs", {}).values()]:
        lines += [f"#### {table['title']}", ""]
        if table.get("description"):
            lines += [" ".join(table["description"].split()), ""]
        lines += ["| Key | Type | Default | Description |", "|---|---|---|---|"]
        required = set(table.get("required", ()))
        for key, field in table.get("properties", {}).items():
            default = (
                "required" if key in required else f"`{json.dumps(field['default'])}`" if "default" in field else ""
            )
            lines.append(f"| `{key}` | {_type(field)} | {default} | {field.get('description', '')} |")
        lines.append("")
    return "\n".join(lines)


def _type(field: dict[str, Any]) -> str:
    """A schema's type in words: ``integer, ≥ 1``, ``one of `a`, `b` ``, ``non-empty list of number, ≥ 0``,
    ``[Table](#table)``."""
    if "$ref" in field:
        name = field["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    for union in ("oneOf", "anyOf"):
        if union in field:
            return " or ".join(_type(branch) for branch in field[union])
    if "enum" in field or "const" in field:
        return "one of " + ", ".join(f"`{value}`" for value in field.get("enum", [field.get("const")]))
    kind = {"array": "list", "object": "table", "boolean": "true or false"}.get(
        field.get("type", ""), field.get("type", "any")
    )
    if kind == "list":
        kind = f"{'non-empty ' if field.get('minItems') == 1 else ''}list of {_type(field.get('items', {}))}"
    elif kind == "table" and field.get("patternProperties"):
        kind = f"table of {' or '.join(_type(value) for value in field['patternProperties'].values())}"
    bounds = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<"}
    return ", ".join([kind, *(f"{sign} {field[name]:g}" for name, sign in bounds.items() if name in field)])


def on_page_content(html: str, page: Page, **_: Any) -> str:
    """Tidy the API page's reStructuredText roles and literal-block markers.

    Example::

        >>> on_page_content("<p>see :func:<code>run</code>. Example::</p>", api_page)
        '<p>see <code>run</code>. Example:</p>'
    """
    if page.file.src_uri != "reference/api.md":
        return html
    return LITERAL_BLOCK.sub(r"\1:</p>", ROLE.sub("", html))
