"""scikit-learn estimators and pipelines, saved with skops (never pickle).

skops refuses to build types it does not trust. At save time we record the types the file needs
beyond skops' defaults; at load time we trust exactly those, and only when each comes from a
library we know (or the caller named it in ``load_options={"trusted_types": [...]}``), so
a tampered metadata dict cannot smuggle in ``os.system``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.core.errors import InvalidInput
from shipyard.models._flavor import ConversionSkipped, Flavor, built_on, distribution_versions

if TYPE_CHECKING:
    from shipyard.models._signature import Signature

__all__ = ["NEVER_TRUSTED", "TRUSTED_MODULE_PREFIXES", "SklearnFlavor"]

TRUSTED_MODULE_PREFIXES = (
    "sklearn.",
    "numpy.",
    "scipy.",
    "builtins.",
    "collections.",
    "lightgbm.",
    "xgboost.",
)
# Callables that are never trusted by prefix alone: they run code when a file references them.
_RUN_CODE = "__import__ breakpoint compile delattr eval exec getattr globals input locals open"
NEVER_TRUSTED = frozenset(f"builtins.{name}" for name in f"{_RUN_CODE} setattr vars".split())
_FILE = "model.skops"


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
            "trusted_types": sorted(skops.io.get_untrusted_types(data=data)),
            "has_proba": hasattr(model, "predict_proba"),
        }
        classes = getattr(model, "classes_", None)
        if classes is not None:
            meta["classes"] = classes.tolist()
        return meta

    def load(self, read: Callable[[str], bytes], meta: Mapping[str, Any]) -> Any:
        import skops.io

        trusted = list(meta.get("trusted_types", []))
        load_options = meta.get("load_options") or {}
        opted_in = set(load_options.get("trusted_types", ()))
        refused = [
            t
            for t in trusted
            if (t in NEVER_TRUSTED or not t.startswith(TRUSTED_MODULE_PREFIXES))
            and t not in opted_in
        ]
        if refused and not load_options.get("just_saved"):
            raise InvalidInput(
                f"Refusing to load the scikit-learn model: it needs types outside the trusted "
                f"libraries {list(TRUSTED_MODULE_PREFIXES)}: {refused}.",
                hint="If you reviewed and trust them, pass "
                f"load_options={{'trusted_types': {refused!r}}}.",
            )
        return skops.io.loads(read(meta.get("file", _FILE)), trusted=trusted)

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
