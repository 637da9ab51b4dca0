"""Allow ``python -m pcbench``."""

from pcbench.cli import main

main()
