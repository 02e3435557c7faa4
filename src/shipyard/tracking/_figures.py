"""Turn a figure object into bytes, picking the format from the artifact name."""

from __future__ import annotations

import io
from typing import Any

from shipyard.core.errors import InvalidInput

__all__ = ["figure_bytes"]

_IMAGE_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")


def figure_bytes(figure: Any, name: str) -> bytes:
    """Render a matplotlib or plotly figure to the format ``name``'s extension asks for."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if hasattr(figure, "savefig"):  # matplotlib Figure
        if extension not in _IMAGE_FORMATS:
            raise InvalidInput(
                f"Cannot save a matplotlib figure as {name!r}.",
                hint=f"End the name with one of: {', '.join('.' + f for f in _IMAGE_FORMATS)}.",
            )
        buffer = io.BytesIO()
        figure.savefig(buffer, format=extension, bbox_inches="tight")
        return buffer.getvalue()
    if hasattr(figure, "to_html") and hasattr(figure, "to_json"):  # plotly Figure
        if extension == "html":
            return str(figure.to_html(include_plotlyjs=True, full_html=True)).encode()
        if extension == "json":
            return str(figure.to_json()).encode()
        raise InvalidInput(
            f"Cannot save a plotly figure as {name!r}.", hint="End the name with .html or .json."
        )
    raise InvalidInput(
        f"log_figure needs a matplotlib or plotly figure, got {type(figure).__name__}.",
        hint="Pass e.g. the Figure from plt.subplots(), or log bytes with log_artifact.",
    )
