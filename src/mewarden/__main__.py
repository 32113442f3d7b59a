"""`python -m mewarden` is the same as the `mewarden` console script."""

from mewarden.cli.main import main

main()
