"""The suishin command line: embedded stack, services, tokens, import."""
