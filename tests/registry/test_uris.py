"""Model URIs parse the same everywhere and refuse what they cannot read."""

from __future__ import annotations

import pytest

from shipyard.core.errors import InvalidInput
from shipyard.registry import ModelUri, RunModelUri, parse_model_uri


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models:/churn/3", ModelUri("churn", version=3)),
        ("models:/churn@champion", ModelUri("churn", alias="champion")),
        ("models:/churn@latest", ModelUri("churn", alias="latest")),
        ("models:/my.model-v2_x/12", ModelUri("my.model-v2_x", version=12)),
        ("runs:/01JABCDEFGH/model", RunModelUri("01JABCDEFGH", "model")),
        ("runs:/01JABCDEFGH/nested/model/", RunModelUri("01JABCDEFGH", "nested/model")),
    ],
)
def test_valid_uris(text: str, expected: object) -> None:
    parsed = parse_model_uri(text)
    assert parsed == expected
    assert str(parsed) == text.rstrip("/")


@pytest.mark.parametrize(
    "text",
    [
        "models:/churn",
        "models:/churn/0",
        "models:/churn/-1",
        "models:/churn/v3",
        "models:/churn/\uff13",  # a full-width digit
        "models:/churn@",
        "models:/churn@1bad",
        "models:/@champion",
        "models:/../etc/3",
        "models:/churn@champ ion",
        "runs:/",
        "runs:/abc",
        "s3://bucket/model",
        "churn",
        "",
    ],
)
def test_invalid_uris_are_named_with_a_hint(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_model_uri(text)
    assert repr(text) in caught.value.message and caught.value.hint


def test_non_string_uri() -> None:
    with pytest.raises(InvalidInput, match="must be a string"):
        parse_model_uri(3)
