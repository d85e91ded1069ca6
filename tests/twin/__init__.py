"""Tests of soilnet.twin, one module per module of the package.

A package (as ``tests/acquire``) so that basenames such as ``test_config.py`` can also exist in
``tests/`` under pytest's default import mode, and so that this folder's ``conftest.py`` does not
shadow ``tests/conftest.py`` for ``from conftest import TINY``.
"""
