"""`python -m grpotui`: the `grpotui` command (`grpotui serve` runs its sessions this way, so that
they use the server's own Python and grpotui)."""

from grpotui.cli import main

main()
