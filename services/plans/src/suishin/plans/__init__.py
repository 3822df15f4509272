"""Plans service: plans, goals and measures with their lifecycle and yearly grades."""
