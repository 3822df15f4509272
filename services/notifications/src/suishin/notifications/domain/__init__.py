"""Pure rules of the notifications service: no I/O, no SQL, no clock reads (``now`` is an
argument)."""
