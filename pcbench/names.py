"""One rule for the names pcbench turns into file names and shows: models, suites, runs.

A name is 1 to 100 ASCII letters, digits, ``-``, ``_`` and ``.``, not starting with ``.``: no
path separators or ``..`` components (a name never leaves the folder it is stored in), no
control characters, no Unicode look-alikes or bidirectional overrides (``cnn\\u202egnp.exe``
would display as ``cnnexe.png``), no hidden files.

Example::

    check_name("model", "digits-pcnn", "models.toml")      # returns the name
    check_name("model", "../escape", "models.toml")        # PcbenchError
"""

from __future__ import annotations

import re

from pcbench.errors import PcbenchError

#: Longest name allowed (file names built from a name stay well below 255 bytes).
MAX_NAME = 100
NAME_PATTERN = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{MAX_NAME - 1}}}")
ALLOWED = f"1 to {MAX_NAME} ASCII letters, digits, '-', '_' and '.' (not first)"


def is_name(value: object) -> bool:
    """Whether ``value`` is a string that follows the rule."""
    return isinstance(value, str) and NAME_PATTERN.fullmatch(value) is not None


def check_name(kind: str, value: object, where: str) -> str:
    """``value`` when it follows the rule; otherwise PcbenchError ``<where>: <kind> name <value>
    is not allowed; allowed: ...`` (the value written with escapes, so that it cannot disguise
    the line)."""
    if not is_name(value):
        raise PcbenchError(f"{where}: {kind} name {ascii(value)} is not allowed; allowed: {ALLOWED}")
    return value  # type: ignore[return-value]
