"""`python -m frontdoor` is the `frontdoor` command (how `up` starts each service's process)."""

from frontdoor.cli import main

main()
