from __future__ import annotations

import pytest

from shipyard.core import errors


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.InvalidInput, ValueError),
        (errors.ConfigError, ValueError),
        (errors.InvalidArtifactName, ValueError),
        (errors.InvalidFilter, ValueError),
        (errors.NotFound, LookupError),
        (errors.Conflict, ValueError),
        (errors.StoreError, RuntimeError),
        (errors.ArtifactCorrupted, RuntimeError),
        (errors.MalformedRequest, ValueError),
        (errors.PayloadTooLarge, ValueError),
        (errors.UnsupportedMediaType, ValueError),
        (errors.Unauthorized, PermissionError),
        (errors.Forbidden, PermissionError),
        (errors.Unavailable, RuntimeError),
    ],
)
def test_every_error_is_a_shipyard_error_and_its_matching_builtin(
    cls: type[errors.ShipyardError], builtin: type[Exception]
) -> None:
    error = cls("What went wrong.", hint="How to fix it.")
    assert isinstance(error, errors.ShipyardError) and isinstance(error, builtin)
    assert str(error) == "What went wrong. How to fix it."
    assert error.code and error.code != errors.ShipyardError.code


def test_codes_are_unique() -> None:
    codes = [getattr(errors, name).code for name in errors.__all__]
    assert len(codes) == len(set(codes))
