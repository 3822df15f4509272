"""The small runtime kit every Suishin service shares: settings, database, outbox, inbox,
dead letters, broker, auth, HTTP runtime and the embedded stack."""
