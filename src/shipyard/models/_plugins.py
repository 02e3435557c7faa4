"""Finding flavors: the built-in table plus third-party ones from the ``shipyard.flavors``
entry-point group.

The built-ins are found without package metadata (a source checkout works). A plugin that fails
to import or is not a :class:`Flavor` emits :class:`FlavorPluginWarning` and is skipped: a broken
third-party package never breaks Shipyard.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import warnings

from shipyard.core.errors import InvalidInput
from shipyard.models._flavor import Flavor

__all__ = [
    "ENTRY_POINT_GROUP",
    "FlavorPluginWarning",
    "available_flavors",
    "flavor_for",
    "get_flavor",
]

ENTRY_POINT_GROUP = "shipyard.flavors"

# Library-specific flavors first: each claims only its own library's types. The catch-alls come
# last, after third-party plugins: sklearn claims anything built on BaseEstimator (so a plugin
# for a scikit-learn-compatible library must be asked first) and pyfunc claims plain functions.
_SPECIFIC = {
    "lightgbm": "shipyard.models.flavors.lightgbm:LightGBMFlavor",
    "xgboost": "shipyard.models.flavors.xgboost:XGBoostFlavor",
    "pytorch": "shipyard.models.flavors.pytorch:PyTorchFlavor",
    "onnx": "shipyard.models.flavors.onnx:OnnxFlavor",
}
_CATCH_ALL = {
    "sklearn": "shipyard.models.flavors.sklearn:SklearnFlavor",
    "pyfunc": "shipyard.models.flavors.pyfunc:PythonFunctionFlavor",
}
BUILTIN_FLAVORS = {**_SPECIFIC, **_CATCH_ALL}


class FlavorPluginWarning(UserWarning):
    """A third-party flavor could not be loaded and was skipped."""


def available_flavors(*, refresh: bool = False) -> dict[str, Flavor]:
    """Every usable flavor by name, in the order :func:`flavor_for` asks them.

    Discovery runs once per process; ``refresh=True`` looks at installed packages again.
    """
    if refresh:
        _discover.cache_clear()
    return dict(_discover())


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``."""
    flavors = available_flavors()
    try:
        return flavors[name]
    except KeyError:
        raise InvalidInput(
            f"No flavor named {name!r}; available flavors: {sorted(flavors)}.",
            hint="Install the package that provides it, or pick one of the available flavors.",
        ) from None


def flavor_for(model: object) -> Flavor:
    """The first flavor that claims ``model``."""
    flavors = available_flavors()
    for flavor in flavors.values():
        if flavor.handles(model):
            return flavor
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    raise InvalidInput(
        f"No flavor handles a model of type {kind}; supported flavors: {list(flavors)}.",
        hint=(
            "Name a flavor with flavor=..., wrap the model in a shipyard.models.PythonModel "
            "subclass (pyfunc flavor), or add a flavor: subclass shipyard.models.Flavor and "
            f"register it in the {ENTRY_POINT_GROUP!r} entry-point group of your package."
        ),
    )


@functools.cache
def _discover() -> tuple[tuple[str, Flavor], ...]:
    found = [(name, _instantiate(name, _import(target))) for name, target in _SPECIFIC.items()]
    found.extend(_third_party())
    found.extend((name, _instantiate(name, _import(t))) for name, t in _CATCH_ALL.items())
    return tuple(found)


def _import(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _instantiate(name: str, cls: object) -> Flavor:
    if not (isinstance(cls, type) and issubclass(cls, Flavor)):
        raise TypeError(f"{cls!r} is not a subclass of shipyard.models.Flavor")
    flavor = cls()
    if getattr(flavor, "name", None) != name:
        raise TypeError(f"its class says name={getattr(flavor, 'name', None)!r}")
    return flavor


def _third_party() -> list[tuple[str, Flavor]]:
    found: dict[str, Flavor] = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in BUILTIN_FLAVORS:
            if entry.value != BUILTIN_FLAVORS[entry.name]:
                _warn(entry, "its name is taken by a built-in flavor")
            continue
        if entry.name in found:
            _warn(entry, "another plugin already registered that name")
            continue
        try:
            found[entry.name] = _instantiate(entry.name, entry.load())
        except Exception as exc:  # a plugin's import can fail in any way; never break the host
            _warn(entry, f"{type(exc).__name__}: {exc}")
    return sorted(found.items())


def _warn(entry: importlib.metadata.EntryPoint, why: str) -> None:
    dist = getattr(entry.dist, "name", None) or "an unknown package"
    warnings.warn(
        f"Skipped flavor plugin {entry.name!r} ({entry.value}) from {dist}: {why}. "
        "Reinstall or fix that package; the other flavors work as usual.",
        FlavorPluginWarning,
        stacklevel=4,
    )
