"""One page of ids from a filtered queryset, for cursor pages by id."""

from __future__ import annotations

from typing import Any


def id_page(
    queryset: Any, field: str, *, after: int | None, before: int | None, limit: int
) -> list[int]:
    """The first ``limit`` distinct values of ``field`` after ``after``
    (ascending), or the last ones before ``before`` (descending).

    A query for the values alone, which an index on the filter and ``field``
    answers without reading the table.
    """
    if after is not None:
        queryset = queryset.filter(**{f"{field}__gt": after})
    if before is not None:
        queryset = queryset.filter(**{f"{field}__lt": before})
    order = f"-{field}" if before is not None else field
    values = queryset.order_by(order).values_list(field, flat=True).distinct()
    return list(values[:limit])
