"""The DAG of a pipeline, traced by calling its body: each step call adds a node, and a step
output passed to another step adds an edge. Nothing runs while tracing."""

from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.pipelines._step import Step

__all__ = ["Graph", "GraphBuilder", "Node", "StepOutput", "current_builder", "tracing"]

_builder: contextvars.ContextVar[GraphBuilder | None] = contextvars.ContextVar(
    "shipyard_pipeline_builder", default=None
)
DEFAULT_OUTPUT = "output"


def current_builder() -> GraphBuilder | None:
    return _builder.get()


@dataclass(frozen=True)
class StepOutput:
    """A handle to what a step will return; only another step can use it."""

    node: str
    name: str = DEFAULT_OUTPUT

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise InvalidInput(
            f"The output of step {self.node!r} exists only when the pipeline runs.",
            hint="Pass it to another step and do the work there.",
        )

    __bool__ = __iter__ = __len__ = __getitem__ = __call__ = _refuse

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return self._refuse()


@dataclass(frozen=True)
class Node:
    """One step call: literal parameters (cached by value) and inputs from other steps."""

    id: str
    step: Step
    params: dict[str, Any]
    inputs: dict[str, StepOutput]

    @property
    def depends_on(self) -> list[str]:
        return sorted({ref.node for ref in self.inputs.values()})

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.step.options.outputs or (DEFAULT_OUTPUT,)


@dataclass
class Graph:
    name: str
    nodes: dict[str, Node] = field(default_factory=dict)

    def topological(self) -> list[Node]:
        """Nodes in call order, which is already topological: a handle exists only after
        the call that made it."""
        return list(self.nodes.values())

    def downstream(self, node_id: str) -> set[str]:
        found: set[str] = set()
        for node in self.nodes.values():
            if node_id in node.depends_on or found & set(node.depends_on):
                found.add(node.id)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodes": [
                {
                    "id": n.id,
                    "step": n.step.name,
                    "depends_on": n.depends_on,
                    "inputs": {k: f"{v.node}.{v.name}" for k, v in n.inputs.items()},
                    "params": n.params,
                    "outputs": list(n.output_names),
                }
                for n in self.nodes.values()
            ],
        }


class GraphBuilder:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def add(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(
                f"Step {step.name!r} called with the wrong arguments: {exc}.",
                hint=f"Its signature is {step.name}{step.signature}.",
            ) from None
        bound.apply_defaults()
        node_id = self._node_id(step.name)
        params: dict[str, Any] = {}
        inputs: dict[str, StepOutput] = {}
        for name, value in bound.arguments.items():
            if isinstance(value, StepOutput):
                inputs[name] = value
            else:
                params[name] = _literal(step.name, name, value)
        node = Node(node_id, step, params, inputs)
        self.graph.nodes[node_id] = node
        outputs = tuple(StepOutput(node_id, n) for n in node.output_names)
        return outputs if step.options.outputs else outputs[0]

    def _node_id(self, name: str) -> str:
        if name not in self.graph.nodes:
            return name
        count = 2
        while f"{name}-{count}" in self.graph.nodes:
            count += 1
        return f"{name}-{count}"


def _literal(step: str, argument: str, value: Any) -> Any:
    """Parameters are part of the cache key, so they must have a stable JSON form."""
    if _holds_output(value):
        raise InvalidInput(
            f"Step {step!r} got a step output inside a container for {argument!r}.",
            hint="Pass step outputs directly as arguments, one argument each.",
        )
    try:
        json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"Step {step!r} got {type(value).__name__} for {argument!r}; parameters must be "
            "JSON values (numbers, strings, booleans, None, lists, dicts).",
            hint="Produce data in a step and pass its output, or pass a path or a name.",
        ) from None
    return value


def _holds_output(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(_holds_output(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_output(v) for v in value.values())
    return isinstance(value, StepOutput)


class tracing:
    """Collect the step calls made in the ``with`` body into ``graph``."""

    def __init__(self, graph: Graph) -> None:
        self.builder = GraphBuilder(graph)

    def __enter__(self) -> GraphBuilder:
        if _builder.get() is not None:
            raise InvalidInput(
                "A pipeline was run inside another pipeline's definition.",
                hint="Call steps inside a pipeline; run pipelines from outside.",
            )
        self._token = _builder.set(self.builder)
        return self.builder

    def __exit__(self, *exc: object) -> None:
        _builder.reset(self._token)
