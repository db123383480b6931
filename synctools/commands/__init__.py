"""The command-line subcommands that work on an account: ``login``, ``logout``, ``status``,
``pull``, ``export``, ``doctor``, ``trace``, ``discard``, ``restore`` and ``lab``.

Each module exposes ``register(subparsers)`` (listed in ``synctools.cli.COMMAND_MODULES``);
:mod:`._common` holds what they share: where the session and the local store live, the
options that choose a server, checking arguments before any work, turning expected
failures into one-line errors, falling back to the local store when the server does not
answer, and reviewing a plan before it is committed.
"""
