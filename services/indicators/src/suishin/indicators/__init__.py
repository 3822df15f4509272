"""Indicators service: indicator definitions, targets, measurements and evaluation."""
