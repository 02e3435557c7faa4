"""scikit-learn estimators and pipelines, saved with skops (never pickle).

skops builds only the types it trusts, and a type it is told to trust may be a class it
instantiates with arguments from the file or a function the model calls later. So at load we read
the names the file needs beyond skops' defaults from the file itself and trust each one only when:

- it is a class defined in scikit-learn (test helpers and vendored code aside), or a
  scikit-learn-API estimator of LightGBM or XGBoost;
- it is in :data:`TRUSTED_NAMES`, a few helpers real models need; or
- the caller named it in ``load_options={"trusted_types": [...]}`` after reviewing it.

Trusting whole libraries by name prefix is not safe: numpy alone has functions that run a string
as code (``numpy.testing``) or write files, and a tampered file can name any of them. Names in
:data:`NEVER_TRUSTED` are refused even when a caller names them. scikit-learn's tree structures
are trusted although skops is wary of them (they are most models): crafted node arrays can crash
the process when the model predicts, but cannot make it run code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.core.errors import InvalidInput
from shipyard.models._flavor import ConversionSkipped, Flavor, built_on, distribution_versions

if TYPE_CHECKING:
    from shipyard.models._signature import Signature

__all__ = ["NEVER_TRUSTED", "TRUSTED_NAMES", "SklearnFlavor", "is_trusted"]

TRUSTED_NAMES = frozenset(
    {
        "collections.OrderedDict",
        "functools.partial",  # binds arguments only; the function it wraps is checked on its own
        "lightgbm.basic.Booster",
        "numpy.dtype",
        "sklearn.utils.validation.check_array",  # HistGradientBoosting on categorical columns
        "xgboost.core.Booster",
    }
)
# Refused even when a caller names them: they run code, or reach the OS, when called.
_RUNS_CODE = (
    "__build_class__ __import__ breakpoint compile delattr eval exec exit getattr globals help "
    "input locals open quit setattr vars"
)
NEVER_TRUSTED = frozenset(f"builtins.{name}" for name in _RUNS_CODE.split())
_NEVER_MODULES = frozenset(
    {"code", "codeop", "ctypes", "importlib", "marshal", "nt", "os", "pickle", "posix", "pty"}
    | {"runpy", "shutil", "socket", "subprocess", "sys"}
)
_SKIPPED_PARTS = frozenset({"tests", "testing", "_testing", "conftest", "externals"})
_FILE = "model.skops"


def is_trusted(name: str) -> bool:
    """Whether skops may build ``name`` from a model file without the caller naming it.

    Only modules inside scikit-learn, LightGBM and XGBoost are imported to answer.
    """
    if name in TRUSTED_NAMES:
        return True
    module, _, attr = name.rpartition(".")
    parts = module.split(".")
    if parts[0] not in ("sklearn", "lightgbm", "xgboost") or _SKIPPED_PARTS.intersection(parts):
        return False
    if not all(part.isidentifier() for part in (*parts, attr)):
        return False
    try:
        target = getattr(importlib.import_module(module), attr)
    except Exception:  # a missing or broken module or name is simply not trusted
        return False
    if not isinstance(target, type) or target.__module__.partition(".")[0] != parts[0]:
        return False  # a function, or another library's class imported into the module
    if parts[0] == "sklearn":
        return True
    from sklearn.base import BaseEstimator

    return issubclass(target, BaseEstimator)


def _never_trusted(name: str) -> bool:
    return name in NEVER_TRUSTED or name.partition(".")[0] in _NEVER_MODULES


class SklearnFlavor(Flavor):
    """Any scikit-learn estimator (or pipeline), predicted with ``predict``/``predict_proba``."""

    name: ClassVar[str] = "sklearn"

    def handles(self, model: object) -> bool:
        return built_on(model, "sklearn")

    def save(
        self, model: Any, files: dict[str, bytes], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        import skops.io

        data = skops.io.dumps(model)
        files[_FILE] = data
        meta: dict[str, Any] = {
            "format": "skops",
            "file": _FILE,
            "estimator": f"{type(model).__module__}.{type(model).__qualname__}",
            # For people reading the metadata: load asks the file itself, not this list.
            "trusted_types": sorted(skops.io.get_untrusted_types(data=data)),
            "has_proba": hasattr(model, "predict_proba"),
        }
        classes = getattr(model, "classes_", None)
        if classes is not None:
            meta["classes"] = classes.tolist()
        return meta

    def load(self, read: Callable[[str], bytes], meta: Mapping[str, Any]) -> Any:
        import skops.io

        data = read(meta.get("file", _FILE))
        load_options = meta.get("load_options") or {}
        # What the file itself needs, not what its metadata claims.
        needed = sorted(skops.io.get_untrusted_types(data=data))
        if not load_options.get("just_saved"):
            _check_trust(needed, _opted_in(load_options))
        return skops.io.loads(data, trusted=needed)

    def predict(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        return model.predict(inputs)

    def predict_proba(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        if not hasattr(model, "predict_proba"):
            return super().predict_proba(model, inputs, meta)
        return model.predict_proba(inputs)

    def to_onnx(self, model: Any, signature: Signature, example: Any) -> bytes | None:
        from shipyard.models._onnx import convert_sklearn

        if not hasattr(model, "predict"):
            raise ConversionSkipped("the estimator has no predict method")
        return convert_sklearn(model, signature)

    def library_versions(self) -> dict[str, str]:
        return distribution_versions(["scikit-learn", "skops", "numpy", "scipy"])


def _opted_in(load_options: Mapping[str, Any]) -> Collection[str]:
    names = load_options.get("trusted_types", ())
    if not isinstance(names, list | tuple | set | frozenset) or not all(
        isinstance(n, str) for n in names
    ):
        raise InvalidInput(
            f"load_options['trusted_types'] must be a list of type names; got {names!r}.",
            hint="Pass names such as ['mypackage.MyTransformer'].",
        )
    return frozenset(names)


def _check_trust(needed: list[str], opted_in: Collection[str]) -> None:
    never = [name for name in needed if _never_trusted(name)]
    if never:
        raise InvalidInput(
            f"Refusing to load the scikit-learn model: its file uses {never}, which can run "
            "arbitrary code and is never loaded.",
            hint="Do not use this file; rebuild the model from a trusted source.",
        )
    refused = [name for name in needed if name not in opted_in and not is_trusted(name)]
    if refused:
        raise InvalidInput(
            "Refusing to load the scikit-learn model: its file uses names that are not "
            f"classes of scikit-learn, LightGBM or XGBoost: {refused}.",
            hint="If you wrote or reviewed that code and trust this file, pass "
            f"load_options={{'trusted_types': {refused!r}}}.",
        )
