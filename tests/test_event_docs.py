"""The published event contract in docs/events.md matches the producers' catalogues."""

from __future__ import annotations

from frontdoor.eventdocs import DOC, producer_catalogues, render


def test_docs_events_md_is_current():
    assert DOC.exists(), "run `python -m frontdoor.eventdocs`"
    assert DOC.read_text() == render(producer_catalogues()), (
        "docs/events.md is stale: run python -m frontdoor.eventdocs"
    )


def test_every_producer_documents_its_event_types():
    text = DOC.read_text()
    for catalogue in producer_catalogues():
        for info in catalogue.describe():
            assert f"### {info.type} (v{info.schema_version})" in text
