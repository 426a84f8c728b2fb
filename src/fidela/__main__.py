"""`python -m fidela` runs the `fidela` command."""

from fidela.cli import main

main()
