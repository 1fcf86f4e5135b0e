"""Further ``trainlab`` subcommands, one module each.

Every module here defines ``register(commands)``, which adds its subparser to ``commands`` (the
result of ``ArgumentParser.add_subparsers``) and sets ``handler`` to a function of the parsed
arguments. ``trainlab.cli`` discovers the modules, so adding a command touches no other file.
A handler raises :class:`trainlab.errors.TrainlabError` for a user's mistake (exit code 2, one
line per problem, no traceback). A module imports at the top only what is light (the standard library,
``trainlab.errors``, ``trainlab.registry``, ``trainlab.commands._common``; never torch, SciPy,
Optuna, matplotlib or rich) and everything else inside its handler: ``trainlab --help`` builds
every subparser, and tests/test_fast_cli.py checks that it imports no torch.
"""
