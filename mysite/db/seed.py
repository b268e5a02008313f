"""The seeded rows: a pure function of the primary key, so every seed writes the same table."""

SEED_ROWS = 5000


def seed_row(pk: int) -> dict:
    """Row ``pk`` as the database views answer it (``id``, ``name``, ``value``)."""
    return {"id": pk, "name": f"item-{pk:05d}", "value": (pk * 7919) % 10007}


def expected_rows(count: int) -> list[dict]:
    """What a database view answers for ``rows=count``: the first rows by primary key."""
    return [seed_row(pk) for pk in range(1, count + 1)]
