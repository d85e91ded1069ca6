"""Tests of soilnet.acquire against loopback servers on 127.0.0.1 (offline).

A package so that ``test_cli.py`` here and ``tests/test_cli.py`` can share a basename under
pytest's default import mode, and so the modules import the server with ``from .server``.
"""
