"""Model evaluation, champion/challenger comparison, gates and promotion.

``evaluate`` scores a model on labelled rows and records it as a run; ``compare`` tells whether
a challenger is better than the champion on the same rows, beyond what resampling explains;
``gate`` applies a policy to that comparison and records the verdict on the model version;
``promote`` moves an alias only behind a passing gate. Importing this package is light: numpy,
pandas and scikit-learn load when a function runs.
"""

from shipyard.evaluation._ci import CiResult, run_ci
from shipyard.evaluation._compare import compare
from shipyard.evaluation._custom import CustomGate
from shipyard.evaluation._evaluate import evaluate, load_evaluation
from shipyard.evaluation._gates import GateResult, gate
from shipyard.evaluation._policy import GateCheck, Policy, Rule, load_policy
from shipyard.evaluation._promote import gate_evidence, promote, rollback
from shipyard.evaluation._records import (
    HIGHER_IS_BETTER,
    Comparison,
    Evaluation,
    MetricDelta,
    SliceDelta,
    Verdict,
)

__all__ = [
    "HIGHER_IS_BETTER",
    "CiResult",
    "Comparison",
    "CustomGate",
    "Evaluation",
    "GateCheck",
    "GateResult",
    "MetricDelta",
    "Policy",
    "Rule",
    "SliceDelta",
    "Verdict",
    "compare",
    "evaluate",
    "gate",
    "gate_evidence",
    "load_evaluation",
    "load_policy",
    "promote",
    "rollback",
    "run_ci",
]
