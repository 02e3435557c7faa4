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
    classes = [getattr(errors, name) for name in errors.__all__]
    codes = [cls.code for cls in classes if isinstance(cls, type)]
    assert len(codes) == len(set(codes))


def test_each_error_has_its_http_status() -> None:
    statuses = {
        errors.InvalidInput("x"): 422,
        errors.MalformedRequest("x"): 400,
        errors.NotFound("x"): 404,
        errors.Conflict("x"): 409,
        errors.Unauthorized("x"): 401,
        errors.Forbidden("x"): 403,
        errors.StoreError("x"): 503,
        errors.RunFailed("x"): 500,
    }
    assert {type(e).__name__: errors.http_status(e) for e in statuses} == {
        type(e).__name__: status for e, status in statuses.items()
    }
