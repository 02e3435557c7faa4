"""Packaging a live model into named files plus metadata, and opening it again.

Packaging saves with the model's flavor, reloads from those bytes and predicts on the input
example, so a model that would not load or run fails here rather than in production. The
signature comes from the example and that prediction; an ONNX form is added only when it
reproduces the native predictions.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.models._flavor import ConversionSkipped, Flavor, distribution_versions
from shipyard.models._inputs import InputPreparer, empty_output, exact_dtype, n_rows
from shipyard.models._onnx import OnnxRunner, brief, new_session, squeeze_output, verify_onnx
from shipyard.models._plugins import flavor_for, get_flavor
from shipyard.models._signature import Array, Signature, as_array, infer_signature

__all__ = [
    "BACKENDS",
    "FORMAT_VERSION",
    "LoadedModel",
    "ModelPackage",
    "Prepared",
    "check_flavor",
    "concat_prepared",
    "files_reader",
    "forbids_missing",
    "open_package",
    "package_model",
]

FORMAT_VERSION = 1
BACKENDS = ("native", "onnx")
EXAMPLE_FILE = "input_example.json"
_EXAMPLE_ROWS = 5
_EXAMPLE_VALUES = 10_000  # an image example keeps one row, not five
_REASON_CHARS = 500  # reasons are stored in metadata; converter errors can run to megabytes


@dataclass(frozen=True)
class ModelPackage:
    """A packaged model: file names to bytes, and JSON-able metadata describing them."""

    files: dict[str, bytes]
    meta: dict[str, Any]


def package_model(
    model: Any,
    *,
    input_example: Any,
    flavor: str | None = None,
    options: Mapping[str, Any] | None = None,
    convert_onnx: bool = True,
) -> ModelPackage:
    """Save ``model`` with its flavor, infer its signature and, when it verifies, add ONNX."""
    chosen = get_flavor(flavor) if flavor is not None else flavor_for(model)
    options = dict(options or {})
    unknown = sorted(set(options) - (chosen.option_names - {"input_example"}))
    if unknown:
        raise InvalidInput(
            f"The {chosen.name} flavor does not take option(s) {unknown}; "
            f"it takes {sorted(chosen.option_names)}.",
            hint="Remove or rename the options.",
        )
    inputs = infer_signature(input_example)
    prepared = InputPreparer(inputs)(input_example)
    if not n_rows(prepared):
        raise InvalidInput(
            "The input_example has no rows.",
            hint="Pass a few rows of real input: they fix the signature and check the model.",
        )
    files: dict[str, bytes] = {}
    flavor_meta = chosen.save(model, files, {**options, "input_example": prepared})
    if EXAMPLE_FILE in files:
        raise InvalidInput(f"The {chosen.name} flavor wrote {EXAMPLE_FILE!r}, a reserved name.")
    loaded = chosen.load(files_reader(files), {**flavor_meta, "load_options": {"just_saved": True}})
    native = _predict(chosen, loaded, prepared, flavor_meta)
    signature = Signature(inputs.inputs, infer_signature(native).inputs, inputs.input_kind)
    example_json = _example_json(prepared)
    if example_json is not None:
        files[EXAMPLE_FILE] = example_json

    proba = _native_proba(chosen, loaded, prepared, flavor_meta)
    accepts_missing = _accepts_missing(chosen, loaded, prepared, flavor_meta)
    onnx_meta: dict[str, Any] = {"status": "skipped", "reason": "convert_onnx=False was given"}
    if convert_onnx:
        onnx_meta = _onnx_form(
            chosen, model, signature, prepared, native, proba, flavor_meta, files
        )
    meta = {
        "format_version": FORMAT_VERSION,
        "flavor": chosen.name,
        "flavor_meta": flavor_meta,
        "signature": signature.to_dict(),
        "files": sorted(files),
        "input_example": EXAMPLE_FILE if example_json is not None else None,
        "onnx": onnx_meta,
        # For zero rows, answered without the model: predict's dtype and the number of class
        # probability columns (None: no predict_proba).
        "predict_dtype": exact_dtype(native),
        "proba_width": proba.shape[1] if proba is not None else None,
        # Whether NaN in float inputs gets predictions (None: there are no float inputs).
        "accepts_missing": accepts_missing,
        "library_versions": {**distribution_versions(["numpy"]), **chosen.library_versions()},
        "python_version": platform.python_version(),
        "created_ms": int(time.time() * 1000),
    }
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"The {chosen.name} flavor returned metadata that is not JSON: {exc}.",
            hint="A flavor's save() must return only JSON values (str, numbers, lists, dicts).",
        ) from exc
    return ModelPackage(files=files, meta=meta)


def check_flavor(model: Any, *, input_example: Any, flavor: str | None = None) -> LoadedModel:
    """Conformance check for flavor authors: package, reopen from JSON metadata, predict.

    Raises InvalidInput when the flavor breaks the contract; returns the reopened model.
    """
    package = package_model(model, input_example=input_example, flavor=flavor, convert_onnx=False)
    not_bytes = sorted(n for n, data in package.files.items() if not isinstance(data, bytes))
    if not_bytes:
        raise InvalidInput(
            f"The {package.meta['flavor']} flavor wrote non-bytes files {not_bytes}."
        )
    meta = json.loads(json.dumps(package.meta))
    loaded = open_package(files_reader(package.files), meta)
    first, second = loaded.predict(input_example), loaded.predict(input_example)
    expected = Signature.from_dict(meta["signature"]).outputs
    repeatable = np.array_equal(first, second, equal_nan=first.dtype.kind in "fc")
    if not repeatable or infer_signature(first).inputs != expected:
        raise InvalidInput(
            f"The reopened {loaded.flavor} model's predictions are not repeatable or do not "
            "match its signature.",
            hint="Make load() rebuild exactly what save() wrote.",
        )
    return loaded


def files_reader(files: Mapping[str, bytes]) -> Callable[[str], bytes]:
    """A ``read(name)`` over an in-memory files dict, as flavors get from the artifact store."""

    def read(name: str) -> bytes:
        try:
            return files[name]
        except KeyError:
            raise NotFound(
                f"The model package has no file {name!r}; it has {sorted(files)}.",
                hint="Package the model again; its files are incomplete.",
            ) from None

    return read


def as_prediction(output: Any) -> Array:
    """A model's output in the documented shape: (n,) for one output, (n, k) for k outputs."""
    return squeeze_output(as_array(output))


def _predict(flavor: Flavor, model: Any, prepared: Any, flavor_meta: Mapping[str, Any]) -> Array:
    try:
        output = flavor.predict(model, prepared, flavor_meta)
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"The reloaded {flavor.name} model failed to predict on input_example: "
            f"{type(exc).__name__}: {brief(exc, _REASON_CHARS)}",
            hint="Pass an input_example shaped like the data the model was trained on.",
        ) from exc
    try:
        return as_prediction(output)
    except InvalidInput as exc:
        raise InvalidInput(
            f"The {flavor.name} model returned {type(output).__name__}, not an array.",
            hint="Return an array, tensor or DataFrame from predict, or wrap the model in a "
            "shipyard.models.PythonModel that does.",
        ) from exc


def _native_proba(
    flavor: Flavor, model: Any, prepared: Any, meta: Mapping[str, Any]
) -> Array | None:
    """Class probabilities on the example, or None when the model gives none (or fails to)."""
    try:
        proba = np.asarray(flavor.predict_proba(model, prepared, meta))
    except Exception:  # a model without working probabilities is still a model
        return None
    return proba if proba.ndim == 2 else None


def _accepts_missing(
    flavor: Flavor, model: Any, prepared: Any, meta: Mapping[str, Any]
) -> bool | None:
    """Whether the model predicts on a row whose float inputs are all NaN, found by trying.

    Models that cannot take missing values then get a clear error naming the column, instead
    of whatever the library raises (or, for ONNX forms, silently wrong numbers).
    """
    probe: pd.DataFrame | Array
    if isinstance(prepared, pd.DataFrame):
        floats = [name for name, dtype in prepared.dtypes.items() if dtype.kind == "f"]
        if not floats:
            return None
        probe = prepared.head(1).copy()
        probe[floats] = np.nan
    elif isinstance(prepared, np.ndarray) and prepared.dtype.kind == "f":
        probe = np.full_like(prepared[:1], np.nan)
    else:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # libraries may warn about NaN before handling it
            flavor.predict(model, probe, meta)
    except Exception:  # any failure means: do not send it NaN
        return False
    return True


def _onnx_form(
    flavor: Flavor,
    model: Any,
    signature: Signature,
    prepared: Any,
    native: Array,
    proba: Array | None,
    flavor_meta: Mapping[str, Any],
    files: dict[str, bytes],
) -> dict[str, Any]:
    """The verified ONNX form's metadata (its file added to ``files``), or why there is none."""
    try:
        data = flavor.to_onnx(model, signature, prepared)
        if data is None:
            return {
                "status": "skipped",
                "reason": f"the {flavor.name} flavor has no ONNX converter",
            }
        matrix = prepared.to_numpy() if isinstance(prepared, pd.DataFrame) else prepared
        verified = verify_onnx(data, matrix, native, proba, flavor_meta.get("classes"))
    except ConversionSkipped as exc:
        return {"status": "skipped", "reason": brief(exc, _REASON_CHARS)}
    except Exception as exc:  # a missing runtime or a converter bug never fails packaging
        return {"status": "skipped", "reason": brief(f"{type(exc).__name__}: {exc}", _REASON_CHARS)}
    name = "model.onnx" if files.get("model.onnx", data) == data else "converted.onnx"
    files[name] = data
    return {"status": "verified", "file": name, **verified}


def _example_json(prepared: pd.DataFrame | Array) -> bytes | None:
    """The first rows of the example as strict JSON, or None when they are not JSON-able."""
    try:
        if isinstance(prepared, pd.DataFrame):
            rows = prepared.head(_EXAMPLE_ROWS).to_json(
                orient="split", index=False, date_format="iso"
            )
            payload = {"kind": "dataframe", **json.loads(rows)}
        else:
            row_size = max(1, int(np.prod(prepared.shape[1:])))
            head = prepared[: max(1, min(_EXAMPLE_ROWS, _EXAMPLE_VALUES // row_size))]
            if head.dtype.kind == "f":  # NaN is not JSON; null is
                missing = np.isnan(head)
                head = head.astype(object)
                head[missing] = None
            payload = {"kind": "ndarray", "dtype": prepared.dtype.name, "data": head.tolist()}
        return json.dumps(payload, allow_nan=False).encode()
    except (TypeError, ValueError, OverflowError):
        return None


def open_package(
    read: Callable[[str], bytes],
    meta: Mapping[str, Any],
    *,
    backend: str = "native",
    load_options: Mapping[str, Any] | None = None,
) -> LoadedModel:
    """Load a packaged model, natively or through its verified ONNX form.

    ``load_options`` carries explicit opt-ins to the flavor, such as
    ``{"trusted_types": [...]}`` for scikit-learn types outside the trusted libraries.
    """
    if meta.get("format_version") != FORMAT_VERSION:
        raise InvalidInput(
            f"The model package has format version {meta.get('format_version')!r}; this "
            f"Shipyard reads version {FORMAT_VERSION}.",
            hint="Upgrade Shipyard to open packages written by a newer version.",
        )
    signature = Signature.from_dict(meta["signature"])
    if backend == "native":
        flavor = get_flavor(meta["flavor"])
        load_options = dict(load_options or {})
        if "just_saved" in load_options:
            raise InvalidInput("load_options 'just_saved' is reserved for packaging.")
        # Opt-ins come from the caller only: stored metadata cannot grant itself any.
        flavor_meta = {**meta["flavor_meta"], "load_options": load_options}
        model = flavor.load(read, flavor_meta)
        native = NativeRunner(flavor, model, flavor_meta, signature, meta)
        return LoadedModel(signature, meta, backend, native.model, native)
    if backend == "onnx":
        onnx = meta.get("onnx") or {}
        if onnx.get("status") != "verified":
            raise InvalidInput(
                f"This model has no verified ONNX form: {onnx.get('reason', 'none was made')}.",
                hint="Open it with backend='native'.",
            )
        proba_width = meta.get("proba_width")
        runner = OnnxRunner(
            new_session(read(onnx["file"])),
            onnx,
            signature,
            proba_width,
            forbid_missing=forbids_missing(meta),
        )
        return LoadedModel(signature, meta, backend, runner.session, runner)
    raise InvalidInput(
        f"Unknown backend {backend!r}; expected one of {list(BACKENDS)}.",
        hint="Use 'native' for the model's own library or 'onnx' for its ONNX form.",
    )


Prepared = Any  # what a runner's prepare() returns: a DataFrame or an ndarray


class Runner(Protocol):
    """What a backend does with a caller's payload: check it, run the model, shape the output.

    ``prepare`` and ``run`` are separate so that a server can check each request on its own
    (and refuse only the bad one) and then run many requests' rows as one batch.
    """

    def prepare(self, data: Any) -> Prepared: ...

    def run(self, prepared: Prepared, *, proba: bool = False) -> tuple[Array, Array | None]: ...

    def predict_proba(self, data: Any) -> Array: ...


class NativeRunner:
    """Runs the model through its flavor, on inputs prepared to the signature.

    Zero rows never reach the model (many libraries refuse them): the answer is an empty array
    shaped like the signature's outputs, with the dtype recorded at packaging.
    """

    def __init__(
        self,
        flavor: Flavor,
        model: Any,
        meta: Mapping[str, Any],
        signature: Signature,
        package_meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.flavor = flavor
        self.model = model
        self.meta = meta
        package_meta = package_meta or {}
        self._prepare = InputPreparer(signature, forbid_missing=forbids_missing(package_meta))
        self._empty = empty_output(signature.outputs, package_meta.get("predict_dtype"))
        self._proba_width: int | None = package_meta.get("proba_width")

    def prepare(self, data: Any) -> Prepared:
        return self._prepare(data)

    def run(self, prepared: Prepared, *, proba: bool = False) -> tuple[Array, Array | None]:
        if self._empty is not None and not n_rows(prepared):
            empty_proba = None
            if proba and self._proba_width is not None:
                empty_proba = np.empty((0, self._proba_width))
            return self._empty.copy(), empty_proba
        predicted = as_prediction(self.flavor.predict(self.model, prepared, self.meta))
        probabilities = None
        if proba and self._proba_width is not None:
            probabilities = np.asarray(self.flavor.predict_proba(self.model, prepared, self.meta))
        return predicted, probabilities

    def predict_proba(self, data: Any) -> Array:
        prepared = self._prepare(data)
        if self._proba_width is not None and not n_rows(prepared):
            return np.empty((0, self._proba_width))
        return np.asarray(self.flavor.predict_proba(self.model, prepared, self.meta))


def forbids_missing(package_meta: Mapping[str, Any]) -> bool:
    """Whether the model was found at packaging to fail on NaN (older packages: unknown, no)."""
    return package_meta.get("accepts_missing") is False


def concat_prepared(parts: list[Prepared]) -> Prepared:
    """Several prepared inputs of one model as one batch, rows in order."""
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], pd.DataFrame):
        return pd.concat(parts, ignore_index=True)
    return np.concatenate(parts)


class LoadedModel:
    """A model ready to predict: checks each payload against the signature, then runs it.

    ``predict`` returns an ndarray: (n_rows,) for single-output models (class labels for
    classifiers, values for regressors), (n_rows, n_outputs) otherwise, the same for both
    backends. ``raw`` is the underlying model object (an onnxruntime session for "onnx").
    """

    def __init__(
        self,
        signature: Signature,
        metadata: Mapping[str, Any],
        backend: str,
        raw: Any,
        runner: Runner,
    ) -> None:
        self.signature = signature
        self.metadata = metadata
        self.backend = backend
        self.raw = raw
        self.flavor: str = metadata["flavor"]
        self._runner = runner

    @property
    def has_proba(self) -> bool:
        """Whether the model gives class probabilities (it is a classifier)."""
        return self.metadata.get("proba_width") is not None

    def predict(self, data: Any) -> Array:
        return self._runner.run(self._runner.prepare(data))[0]

    def predict_proba(self, data: Any) -> Array:
        """Class probabilities (n_rows, n_classes), for classifiers."""
        return self._runner.predict_proba(data)

    def prepare(self, data: Any) -> Prepared:
        """``data`` checked against the signature and converted for this backend.

        Raises InvalidInput naming the column and value; the result goes to ``run`` alone or
        joined with other requests' by :func:`concat_prepared`.
        """
        return self._runner.prepare(data)

    def run(self, prepared: Prepared, *, proba: bool = False) -> tuple[Array, Array | None]:
        """Predictions for prepared rows and, with ``proba`` for a classifier, probabilities."""
        return self._runner.run(prepared, proba=proba)

    def __repr__(self) -> str:
        return f"<LoadedModel flavor={self.flavor!r} backend={self.backend!r}>"
