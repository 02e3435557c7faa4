"""Logical artifact names, and the only way to turn one into a local path.

A name like ``plots/roc curve.png`` comes from users, HTTP requests and the database, and is later
joined to a folder on disk. Anything that could climb out of that folder, or that a file system,
a URL parser or a Unicode normalizer could read two ways, is refused here, before any path is built.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import NoReturn
from urllib.parse import unquote

from shipyard.core.errors import InvalidArtifactName

__all__ = ["MAX_NAME_LENGTH", "MAX_SEGMENT_LENGTH", "safe_destination", "validate_artifact_name"]

MAX_NAME_LENGTH = 1024
MAX_SEGMENT_LENGTH = 255  # the common file-name limit of ext4, APFS and NTFS

_ALLOWED = "ASCII letters, digits, spaces and '._-+=@,'"
_SEGMENT = re.compile(r"[A-Za-z0-9._\-+=@, ]+")
# Named so the message can say why; the whitelist above would refuse them anyway.
_FORBIDDEN = {"\\": "a backslash", ";": "';'", "?": "'?'", "#": "'#'", "%": "'%'", ":": "':'"}
_HINT = "Use '/'-separated segments of " + _ALLOWED + ", e.g. 'plots/roc curve.png'."
_MAX_DECODE_ROUNDS = 8


def validate_artifact_name(name: str) -> str:
    """Return the canonical form of ``name`` or raise :class:`InvalidArtifactName`.

    Only names that read the same before and after URL-decoding and NFKC normalization are
    accepted, so no later layer (HTTP router, object store, file system) can see another name.
    """
    if not isinstance(name, str):
        _refuse(name, f"it must be a str, got {type(name).__name__}")
    if not name:
        _refuse(name, "it is empty")
    if len(name) > MAX_NAME_LENGTH:
        _refuse(name, f"it is {len(name)} characters long, the limit is {MAX_NAME_LENGTH}")
    for char in name:
        if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}:
            _refuse(name, f"it contains the control character {char!r}")
    decoded = _decoded(name)
    if decoded != name:
        _refuse(
            name,
            f"it is ambiguous: URL-decoding or Unicode normalization turns it into {decoded!r}",
        )
    if name.startswith("/"):
        _refuse(name, "it is an absolute path; artifact names are relative to their run")
    if re.match(r"[A-Za-z]:", name):
        _refuse(name, "it starts with a Windows drive letter")
    for char, label in _FORBIDDEN.items():
        if char in name:
            _refuse(name, f"it contains {label}")
    segments = name.split("/")
    for segment in segments:
        _check_segment(name, segment)
    return "/".join(segments)


def safe_destination(dest_dir: Path, name: str) -> Path:
    """Where artifact ``name`` goes inside ``dest_dir``, refusing any way out of that folder.

    Symbolic links below ``dest_dir`` are refused too: a link planted in the destination would
    otherwise redirect the write anywhere. ``dest_dir`` itself may be a link (``/tmp`` on macOS).
    """
    canonical = validate_artifact_name(name)
    root = Path(dest_dir)
    current = root
    for segment in canonical.split("/"):
        current = current / segment
        if current.is_symlink():
            _refuse(
                name,
                f"{current} is a symbolic link inside the destination folder {root}; "
                "remove the link or download into an empty folder",
            )
    target = root / canonical
    real_root = root.resolve()
    real_target = target.resolve()
    if real_target == real_root or not real_target.is_relative_to(real_root):
        _refuse(name, f"it resolves to {real_target}, outside the destination folder {real_root}")
    return target


def _decoded(name: str) -> str:
    """``name`` URL-decoded and NFKC-normalized until stable (catches ``%252e``, fullwidth dots)."""
    current = name
    for _ in range(_MAX_DECODE_ROUNDS):
        following = unicodedata.normalize("NFKC", unquote(current))
        if following == current:
            break
        current = following
    return current


def _check_segment(name: str, segment: str) -> None:
    if not segment:
        _refuse(name, "it has an empty segment ('//' or a leading or trailing '/')")
    if segment in {".", ".."}:
        _refuse(name, f"it has a {segment!r} segment, which could leave the run's folder")
    if segment.endswith("."):
        # Windows drops trailing dots, so 'a.' and 'a' would be the same file there.
        _refuse(name, f"its segment {segment!r} ends with '.'")
    if segment != segment.strip():
        _refuse(name, f"its segment {segment!r} starts or ends with whitespace")
    if len(segment) > MAX_SEGMENT_LENGTH:
        _refuse(
            name, f"a segment is {len(segment)} characters long, the limit is {MAX_SEGMENT_LENGTH}"
        )
    if not _SEGMENT.fullmatch(segment):
        bad = next(c for c in segment if not _SEGMENT.fullmatch(c))
        _refuse(name, f"it contains {bad!r}; only {_ALLOWED} are allowed")


def _refuse(name: object, why: str) -> NoReturn:
    shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
    raise InvalidArtifactName(f"Artifact name {shown} is not allowed: {why}.", hint=_HINT)
