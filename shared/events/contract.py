"""The journey-event envelope and the per-service catalogue of event types and versions."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from shared.types import as_utc

# An event's hash as the producer writes it (`shared.events.log.envelope_hash`): SHA-256 in lowercase
# hex. A reader stores it (`consumer_positions.last_hash`, 64 characters), so a feed page whose hash
# has another shape is malformed, refused as a whole like any other malformed page, never stored.
EventHash = Annotated[str, StringConstraints(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
# The highest position a log can assign (its column is a BIGINT). A reader stores positions in BIGINT
# columns too (`consumer_positions.position`, the projections'), so a page naming one beyond it is
# malformed, not a batch that fails to store on every retry.
MAX_POSITION = 2**63 - 1
# An envelope's times as the producer's log stores them: aware, and a UTC time (years 1..9999). A reader
# stores them too (UTCDateTime columns), which refuse a time without a zone, and one whose offset takes
# it past either end of the calendar cannot even be converted: such a page is malformed, not a batch
# that fails on every retry.
EventTime = Annotated[AwareDatetime, AfterValidator(as_utc)]


class EventPayload(BaseModel):
    """Base for every payload: coded and pseudonymous, unknown fields refused on write."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


class Envelope(BaseModel):
    """A stored journey event as the feed publishes it."""

    position: int = Field(
        ge=1, le=MAX_POSITION, description="Global position in this producer's log; the feed cursor."
    )
    event_id: UUID = Field(description="The event's own id.")
    type: str = Field(description="The event type: one of the producer's catalogue (`/events/schema`).")
    schema_version: int = Field(description="The version of that type's payload schema.")
    journey_id: UUID = Field(
        description="The stream: one child's journey (the supervision service's"
        " NewlyQualifiedRegisterSet: one worker's register entry, no journey's)."
    )
    stream_version: int = Field(description="1 for the first event of a stream, then +1 per event.")
    occurred_at: EventTime = Field(description="When it happened in the world (UTC).")
    recorded_at: EventTime = Field(description="When the system stored it (UTC).")
    producer: str = Field(description="The service that recorded it.")
    actor: str = Field(description="Pseudonymous staff or system id.")
    correlation_id: str | None = Field(
        default=None, description="The X-Request-ID of the request that recorded it (an id, never text)."
    )
    payload: dict[str, Any] = Field(description="The event's facts, per its type's payload schema.")
    prev_hash: EventHash | None = Field(
        default=None, description="Hash of the previous event of this stream (SHA-256, lowercase hex)."
    )
    hash: EventHash = Field(description="SHA-256 over this envelope and prev_hash, in lowercase hex.")


class EventTypeInfo(BaseModel):
    type: str = Field(description="The event type, as envelopes name it.")
    schema_version: int = Field(description="The payload schema's current version.")
    payload_schema: dict[str, Any] = Field(description="JSON Schema of the payload.")


class Catalogue:
    """The event types one producer may write, each with its payload model per version."""

    def __init__(self, producer: str) -> None:
        self.producer = producer
        self._types: dict[tuple[str, int], type[EventPayload]] = {}

    def register(self, model: type[EventPayload]) -> type[EventPayload]:
        key = (model.event_type, model.schema_version)
        if key in self._types:
            raise ValueError(f"event type {key} registered twice")
        self._types[key] = model
        return model

    def model_for(self, event_type: str, schema_version: int) -> type[EventPayload] | None:
        return self._types.get((event_type, schema_version))

    def describe(self) -> list[EventTypeInfo]:
        return [
            EventTypeInfo(type=t, schema_version=v, payload_schema=m.model_json_schema())
            for (t, v), m in sorted(self._types.items())
        ]

    def __contains__(self, model: type[EventPayload]) -> bool:
        return (model.event_type, model.schema_version) in self._types
