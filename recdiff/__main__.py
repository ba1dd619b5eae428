"""`python -m recdiff` runs the command line, like the `recdiff` script."""

from recdiff.cli.main import main

main()
