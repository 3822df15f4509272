"""Shared contracts of the Suishin services: events, topics, enums, plan files, calendar."""
