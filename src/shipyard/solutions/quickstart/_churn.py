"""A churn-like customer table, seeded, with a planned shift in production.

Before the shift, customers churn for the usual reasons (short tenure, monthly contracts,
support calls, high charges). Then a competitor cuts prices and support gets slower: monthly
charges rise, support calls double, more customers sit on monthly contracts — three of ten
features drift — and expensive customers now leave far more often, which the first model
never saw. Retraining on labeled production data recovers the accuracy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FEATURES", "SHIFTED_FEATURES", "TARGET", "churn_table"]

TARGET = "churned"
FEATURES = (
    "tenure_months",
    "monthly_charges",
    "contract",
    "payment_method",
    "internet_service",
    "support_calls",
    "age",
    "num_products",
    "paperless_billing",
    "region",
)
SHIFTED_FEATURES = ("monthly_charges", "contract", "support_calls")

_CONTRACTS = np.array(["month-to-month", "one-year", "two-year"])
_PAYMENTS = np.array(["electronic-check", "mailed-check", "bank-transfer", "credit-card"])
_INTERNET = np.array(["dsl", "fiber", "none"])
_REGIONS = np.array(["north", "south", "east", "west"])


def churn_table(rows: int, *, seed: int, shifted: bool = False) -> pd.DataFrame:
    """``rows`` customers with their ``churned`` label; ``shifted`` draws them after the shift."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    contract_shares = [0.75, 0.15, 0.10] if shifted else [0.55, 0.25, 0.20]
    contract = rng.choice(_CONTRACTS, rows, p=contract_shares)
    charges = rng.normal(83.0 if shifted else 65.0, 15.0, rows).clip(18.0, None).round(2)
    support_calls = rng.poisson(3.2 if shifted else 1.5, rows)
    tenure = np.minimum(rng.exponential(24.0, rows).astype(np.int64) + 1, 72)
    payment = rng.choice(_PAYMENTS, rows, p=[0.35, 0.2, 0.22, 0.23])
    internet = rng.choice(_INTERNET, rows, p=[0.35, 0.45, 0.20])
    age = rng.integers(18, 81, rows)
    products = rng.integers(1, 6, rows)
    paperless = rng.choice(np.array(["yes", "no"]), rows, p=[0.6, 0.4])
    region = rng.choice(_REGIONS, rows)

    logit = (
        -1.4
        + 1.3 * (contract == "month-to-month")
        - 0.6 * (contract == "two-year")
        - 0.045 * tenure
        + 0.03 * (charges - 65.0)
        + 0.35 * (support_calls - 1.5)
        + 0.5 * (internet == "fiber")
        + 0.4 * (payment == "electronic-check")
        - 0.25 * (products - 3)
        + 0.2 * (paperless == "yes")
    )
    if shifted:  # the competitor's offer: expensive customers leave far more often now
        logit = logit + 2.2 * (charges > 85.0) - 1.0 * (charges <= 70.0)
    churned = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": charges,
            "contract": contract,
            "payment_method": payment,
            "internet_service": internet,
            "support_calls": support_calls,
            "age": age,
            "num_products": products,
            "paperless_billing": paperless,
            "region": region,
            TARGET: churned,
        }
    )
