"""Notifications service: routing, digests, escalation and delivery."""
