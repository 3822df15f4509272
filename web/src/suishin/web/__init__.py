"""Suishin ward portal."""
