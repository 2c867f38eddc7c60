"""`python -m galatea` runs the command line."""

from galatea.cli.main import main

main()
