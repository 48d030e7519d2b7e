"""Test helpers every package's tests share, so each exists once: the RFC 9457 problem check
(``problems``), DAGs built and stored as the Internal API leaves them (``dags``), migrated
databases (``databases``), an API app on a throwaway home driven in-process (``apps``), and real
``airlock`` processes on a home of their own (``processes``).

Internals, not for users (their helpers are in :mod:`airlock.sdk.testing`). Test modules and
conftests import them by name (``from tests.support.dags import task``): pytest puts the
repository root on ``sys.path`` (``pythonpath`` in the root ``pyproject.toml``). The fixtures
built on them are in the root ``conftest.py``.
"""
