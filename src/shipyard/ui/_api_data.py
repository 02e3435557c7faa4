"""``GET /api/datasets`` and ``GET /api/datasets/{name}``: dataset versions with their schema
and profile, as the data service stored them (the data itself is never read)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

__all__ = ["dataset_detail", "datasets", "router"]

router = APIRouter(tags=["datasets"])


@router.get("/datasets", summary="Datasets with their newest version")
def datasets() -> list[dict[str, Any]]:
    from shipyard.data import list_datasets

    return [
        {
            "name": d.name,
            "latest_version": d.latest_version,
            "num_rows": d.num_rows,
            "num_columns": d.num_columns,
            "updated_ms": d.updated_ms,
        }
        for d in list_datasets()
    ]


@router.get(
    "/datasets/{name}", summary="A dataset's versions, and one version's schema and profile"
)
def dataset_detail(
    name: str,
    version: Annotated[int | None, Query(ge=1, description="default: the newest")] = None,
) -> dict[str, Any]:
    """Every version (without their profiles), and the chosen one in full: schema, profile
    (count, missing rate, statistics, quantiles, histogram or top values per column)."""
    from shipyard.data import dataset_service

    service = dataset_service()
    chosen = service.get(name, version)
    return {
        "name": chosen.name,
        "versions": [_summary(v.to_dict()) for v in service.versions(chosen.name)],
        "version": chosen.to_dict(),
    }


def _summary(version: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in version.items() if k not in ("schema", "profile")}
