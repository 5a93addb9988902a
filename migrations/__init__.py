"""Elicit's Alembic migrations, installed as ``elicit.migrations`` (see ``[tool.setuptools]`` in pyproject.toml).

Nothing here is imported at run time: :mod:`elicit.migrate` finds this folder through the package and hands it to
Alembic, which reads ``env.py`` and ``versions/`` by path.
"""
