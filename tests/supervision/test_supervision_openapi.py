"""The supervision service's OpenAPI document describes every field of its own bodies."""

from __future__ import annotations

from pydantic import BaseModel

from services.supervision.main import create
from services.supervision.supervisions import models as supervisions
from services.supervision.workers import models as workers


def test_every_field_of_the_supervision_bodies_is_described(settings_for) -> None:
    """SupervisionIn's kind and actions, and WorkerOut's version, updated_at and updated_by, had no
    description (referrals tests the same of its bodies)."""
    schemas = create(settings_for("supervision"), run_consumers=False).openapi()["components"]["schemas"]
    ours = {
        cls.__name__
        for module in (supervisions, workers)
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__module__ == module.__name__
    } & set(schemas)
    assert {"SupervisionIn", "ActionIn", "CancelIn", "SupervisionOut", "DueItem", "WorkerOut"} <= ours
    undescribed = [
        f"{name}.{prop}"
        for name in sorted(ours)
        for prop, spec in schemas[name].get("properties", {}).items()
        if not spec.get("description")
        and not schemas.get(spec.get("$ref", "").rsplit("/", 1)[-1], {}).get("description")
    ]
    assert undescribed == []
