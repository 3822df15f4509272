"""All SQL of the indicators service (asyncpg, explicit statements, set-based where it counts),
one repository per aggregate: :mod:`.indicators` (definitions, listing, locks), :mod:`.targets`,
:mod:`.links`, :mod:`.measurements` and :mod:`.statuses`. Functions take a connection (the
caller's transaction) and return records or dataclasses."""

from suishin.indicators.storage import indicators, links, measurements, statuses, targets

__all__ = ["indicators", "links", "measurements", "statuses", "targets"]
