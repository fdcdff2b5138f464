"""`python -m grpotui`: the `grpotui` command (`grpotui serve` runs its sessions this way, so that
they use the server's own Python and grpotui)."""

from grpotui.served import end_with_the_server

end_with_the_server()       # a `grpotui serve` session ends when its server does

from grpotui.cli import main  # noqa: E402

main()
