"""soilnet.errors: one root, builtin bases to catch by, and the ID formatter of messages."""

from __future__ import annotations

import inspect

import soilnet.errors as errors
from soilnet.errors import SoilNetError, first_ids


def test_every_error_class_lives_here_and_derives_from_the_root():
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, Exception) and not issubclass(c, Warning)
        and c.__module__ == errors.__name__
    ]  # fmt: skip
    assert len(classes) >= 15
    for cls in classes:
        assert issubclass(cls, SoilNetError), cls
        assert cls.__doc__ and ("Raised" in cls.__doc__ or cls is SoilNetError), cls
    assert issubclass(errors.PatchNotFoundError, FileNotFoundError)
    assert issubclass(errors.StaleStoreError, ValueError)
    assert issubclass(errors.ConfigConflictError, errors.ConfigurationError)


def test_no_error_class_is_defined_elsewhere_in_the_package():
    import pkgutil

    import soilnet

    for info in pkgutil.walk_packages(soilnet.__path__, "soilnet."):
        if info.name == errors.__name__:
            continue
        module = __import__(info.name, fromlist=["_"])
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Exception) and cls.__module__ == info.name:
                raise AssertionError(f"{info.name}.{cls.__name__} belongs in soilnet.errors")


def test_first_ids():
    assert first_ids([3, 1, 2]) == "3, 1, 2"
    assert first_ids(range(10), n=3) == "0, 1, 2, … (10 in all)"
