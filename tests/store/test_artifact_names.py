"""Artifact names: every known way out of a folder is refused before a path is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.core.errors import InvalidArtifactName, InvalidInput
from shipyard.store._names import (
    MAX_NAME_LENGTH,
    MAX_SEGMENT_LENGTH,
    safe_destination,
    validate_artifact_name,
)

TRICKS = [
    "",
    ".",
    "..",
    "../x",
    "a/../../x",
    "a/..",
    "./a",
    "a/./b",
    "...",
    "/etc/passwd",
    "//proc/self/root/etc/passwd",
    "a//b",
    "a/",
    "..\\x",
    "a\\b",
    "\\\\server\\share\\x",
    "%2e%2e/x",
    "%2E%2E/x",
    "%252e%252e/x",
    "%25252e%25252e/x",
    "..%2fx",
    "..%2Fx",
    "..%5cx",
    "%2fetc%2fpasswd",
    "a%00b",
    "a;b",
    "a?b",
    "a#b",
    "a:b",
    "a\x00b",
    "a\nb",
    "a\tb",
    "a\x7fb",
    "a\u202eb",  # right-to-left override: shows one name, stores another
    "a\u200bb",  # zero-width space
    "C:/x",
    "c:x",
    "C:\\Windows\\x",
    "\uff0e\uff0e/x",  # fullwidth '..'
    "\uff0e\uff0e\uff0fx",  # fullwidth '../x'
    "\uff05\uff12\uff45\uff05\uff12\uff45/x",  # fullwidth '%2e%2e'
    "a\u2044b",  # fraction slash, a look-alike '/'
    "caf\u00e9.png",  # outside the ASCII whitelist
    " a",
    "a ",
    "a/ b",
    "a /b",
    "model.",
    "x" * (MAX_NAME_LENGTH + 1),
    "/".join(["a"] * 600),
    "x" * (MAX_SEGMENT_LENGTH + 1),
    "a*b",
    "a|b",
    "a<b>",
    'a"b',
    "~/x",
    "$HOME/x",
]

GOOD_NAMES = [
    "model.onnx",
    "plots/roc curve.png",
    "data/v1/part-0.parquet",
    "weights/epoch=3,step=1200.safetensors",
    "user@host/run+1_final-v2.txt",
    ".hidden",
    "a..b",
    "x" * MAX_SEGMENT_LENGTH,
]


@pytest.mark.parametrize("name", TRICKS, ids=repr)
def test_tricky_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidArtifactName):
        validate_artifact_name(name)


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_are_returned_unchanged(name: str) -> None:
    assert validate_artifact_name(name) == name


def test_invalid_artifact_name_is_an_invalid_input_and_a_value_error() -> None:
    with pytest.raises(InvalidInput) as info:
        validate_artifact_name("../x")
    assert isinstance(info.value, ValueError)
    assert info.value.code == "invalid_artifact_name"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../x", "'..' segment"),
        ("%252e%252e/x", "turns it into '../x'"),
        ("\uff0e\uff0e/x", "turns it into '../x'"),
        ("/etc/passwd", "absolute path"),
        ("C:/x", "drive letter"),
        ("a\\b", "backslash"),
        ("a//b", "empty segment"),
        ("a\x00b", "control character '\\x00'"),
        ("x" * 2000, "2000 characters long"),
        ("caf\u00e9", "contains '\u00e9'"),
    ],
)
def test_message_names_the_name_the_problem_and_the_fix(name: str, why: str) -> None:
    with pytest.raises(InvalidArtifactName) as info:
        validate_artifact_name(name)
    message = str(info.value)
    assert repr(name)[:40] in message
    assert why in message
    assert "e.g. 'plots/roc curve.png'" in message


def test_non_string_names_are_refused() -> None:
    with pytest.raises(InvalidArtifactName, match="must be a str, got bytes"):
        validate_artifact_name(b"model.onnx")  # type: ignore[arg-type]


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    folder = tmp_path / "dest"
    folder.mkdir()
    return folder


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "canary.txt"
    path.write_text("tweet")
    return path


@pytest.mark.parametrize("name", TRICKS, ids=repr)
def test_safe_destination_refuses_tricks_and_leaves_the_canary_alone(
    dest: Path, canary: Path, name: str
) -> None:
    with pytest.raises(InvalidArtifactName):
        safe_destination(dest, name)
    assert canary.read_text() == "tweet"
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_safe_destination_puts_good_names_inside(dest: Path, name: str) -> None:
    target = safe_destination(dest, name)
    assert target == dest / name
    assert target.resolve().is_relative_to(dest.resolve())


def test_safe_destination_refuses_a_symlinked_folder(dest: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (dest / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidArtifactName, match="symbolic link"):
        safe_destination(dest, "link/x")
    assert list(outside.iterdir()) == []


def test_safe_destination_refuses_a_deep_symlink(dest: Path, tmp_path: Path) -> None:
    (dest / "a").mkdir()
    (dest / "a" / "b").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(InvalidArtifactName, match="symbolic link"):
        safe_destination(dest, "a/b/canary.txt")


def test_safe_destination_refuses_a_symlinked_file(dest: Path, canary: Path) -> None:
    (dest / "model.onnx").symlink_to(canary)
    with pytest.raises(InvalidArtifactName, match="symbolic link"):
        safe_destination(dest, "model.onnx")
    assert canary.read_text() == "tweet"


def test_safe_destination_refuses_a_dangling_symlink(dest: Path, tmp_path: Path) -> None:
    (dest / "model.onnx").symlink_to(tmp_path / "not-yet")
    with pytest.raises(InvalidArtifactName, match="symbolic link"):
        safe_destination(dest, "model.onnx")


def test_safe_destination_accepts_a_symlinked_dest_dir(dest: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(dest, target_is_directory=True)
    assert safe_destination(alias, "plots/a.png") == alias / "plots" / "a.png"
