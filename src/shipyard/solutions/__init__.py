"""Ready-made solutions per domain, each one function from data to a registered model.

A solution strings the domain layers together (datasets, runs, models, the registry and, where
it helps, pipelines and tuning) with defaults a practitioner would pick, so that a first good
model is one call away and every step of it is tracked: ``shipyard.solutions.tabular`` for
predictive analytics on tables.
"""
