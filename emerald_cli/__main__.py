"""`python -m emerald_cli`: the same CLI as the `emerald` script, for when no script is on PATH."""

from emerald_cli.cli import main

main()
