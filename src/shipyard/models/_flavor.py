"""The flavor contract: how Shipyard saves, loads and runs the models of one library.

A flavor turns a live model into named files (bytes) plus a small JSON-able dict, and back.
It never sees a file system path: loading gets a ``read(name) -> bytes`` callable over verified
blobs, so a flavor cannot be pointed at an arbitrary user file. Third parties add a flavor by
subclassing :class:`Flavor` and registering it in the ``shipyard.flavors`` entry-point group.
"""

from __future__ import annotations

import abc
import importlib.metadata
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.core.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.models._signature import Signature

__all__ = ["ConversionSkipped", "Flavor", "built_on", "distribution_versions"]


class ConversionSkipped(Exception):
    """Raised by :meth:`Flavor.to_onnx` to say why a model has no ONNX form.

    Packaging records ``str(exc)`` as the reason and goes on: a missing ONNX form is never fatal.
    """


class Flavor(abc.ABC):
    """Save, load and run the models of one library.

    ``predict`` and ``predict_proba`` receive what ``load`` returned (packaging reloads the
    saved files before its first prediction), so a flavor handles one object shape only.
    """

    name: ClassVar[str]
    #: Keys accepted in ``package_model(..., options=...)``; anything else is refused up front.
    option_names: ClassVar[frozenset[str]] = frozenset()

    def handles(self, model: object) -> bool:
        """Whether this flavor claims ``model`` when no flavor is named. Must be cheap.

        The default claims nothing: such a flavor is used only when asked for by name.
        """
        return False

    @abc.abstractmethod
    def save(
        self, model: Any, files: dict[str, bytes], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write the model's files into ``files`` and return JSON-able flavor metadata.

        ``options`` holds the caller's options (only keys in :attr:`option_names`) plus
        ``"input_example"``: the example exactly as ``predict`` will receive it, for flavors
        that need sample data (tracing, shape discovery).
        """

    @abc.abstractmethod
    def load(self, read: Callable[[str], bytes], meta: Mapping[str, Any]) -> Any:
        """Rebuild the model from its files; ``meta`` is what ``save`` returned.

        ``meta["load_options"]``, when present, carries the caller's explicit opt-ins
        (for example extra trusted types); a flavor ignores the keys it does not know.
        ``load_options["just_saved"]`` is set only by packaging, reloading the bytes it has
        just written in this process: guards against foreign files may be relaxed then.
        """

    @abc.abstractmethod
    def predict(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        """Run the loaded model on prepared inputs (a DataFrame or an ndarray)."""

    def predict_proba(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        """Class probabilities, shape (n_rows, n_classes), for flavors of classifiers."""
        raise InvalidInput(
            f"The {self.name} flavor has no class probabilities for this model.",
            hint="Call predict() instead, or package a classifier that exposes probabilities.",
        )

    def to_onnx(self, model: Any, signature: Signature, example: Any) -> bytes | None:
        """The model in ONNX form, or None when this flavor does not convert.

        Raise :class:`ConversionSkipped` to record why a particular model cannot be converted.
        """
        return None

    def library_versions(self) -> dict[str, str]:
        """Versions of the libraries this flavor's files depend on, for reproducibility."""
        return {}


def built_on(model: object, package: str) -> bool:
    """Whether ``model``'s class, or one of its bases, is defined in top-level ``package``.

    Reads ``__module__`` names only, so asking never imports the library.
    """
    return any(
        getattr(cls, "__module__", "").partition(".")[0] == package for cls in type(model).__mro__
    )


def distribution_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of the named distributions, skipping those not installed."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
