"""All SQL of the notifications service, one module per aggregate. Functions take a connection
(inside the caller's transaction) or, for reads, a pool, and return rows as dicts or records.

- :mod:`.inbox`: notifications (the inbox, acknowledgement, reading, the batch insert)
- :mod:`.deliveries`: deliveries and their attempt log (claiming, finishing, the batch insert)
- :mod:`.digests`: digest e-mails composed from waiting deliveries
- :mod:`.alerts`: alert episodes (dedup, recovery, escalation) and the routing outcomes log
- :mod:`.directory`: the tenant directory (import, codes, the routing snapshot, people, webhooks)
- :mod:`.subscriptions`: people's preferences and subscriptions
- :mod:`.rules`: routing rules and silences
"""

from suishin.notifications.storage import (
    alerts,
    deliveries,
    digests,
    directory,
    inbox,
    rules,
    subscriptions,
)

__all__ = ["alerts", "deliveries", "digests", "directory", "inbox", "rules", "subscriptions"]
