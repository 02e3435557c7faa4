"""Pipelines: ``@sy.step`` functions composed in a ``@sy.pipeline``, cached by code, parameters
and input content, tracked as runs, and run locally (parallel branches) or on Ray."""

from shipyard.pipelines._execute import StepResult, StepStatus
from shipyard.pipelines._graph import Graph, Node, StepOutput
from shipyard.pipelines._materializers import Materializer, register_materializer
from shipyard.pipelines._pipeline import Pipeline, PipelineRun, pipeline
from shipyard.pipelines._step import Step, step

__all__ = [
    "Graph",
    "Materializer",
    "Node",
    "Pipeline",
    "PipelineRun",
    "Step",
    "StepOutput",
    "StepResult",
    "StepStatus",
    "pipeline",
    "register_materializer",
    "step",
]
