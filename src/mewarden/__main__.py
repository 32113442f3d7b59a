"""`python -m mewarden` is the same as the `mewarden` console script."""

from mewarden.cli.entry import main

main()
