"""A range import is written in fixed-size chunks from a generator, never materialised."""

from __future__ import annotations

from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db
from fusion_core.numbering import importer, services


def test_numbers_are_inserted_chunk_by_chunk(nm, app, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK", 1000)
    sizes: list[int] = []
    progress: list[int] = []
    original = importer._chunks

    def spy(items, size):
        assert not isinstance(items, list | tuple)  # a generator: numbers made as consumed
        for chunk in original(items, size):
            sizes.append(len(chunk))
            yield chunk

    monkeypatch.setattr(importer, "_chunks", spy)
    with app.app_context(), acting_as(SYSTEM):
        imp = services.import_numbers(
            get_db().session,
            rows=[{"first": "+3225550000", "last": "+3225552499"}],
            progress=progress.append,
        )
        assert imp.created_numbers == 2500
    assert sizes == [1000, 1000, 500]
    assert progress == [1000, 2000, 2500]
    assert nm.group.get("numbers/+3225552499").json["range_id"] is not None
