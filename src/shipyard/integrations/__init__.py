"""Adapters that run Shipyard models inside other engines (Spark)."""
