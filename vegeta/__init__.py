"""vegeta package."""
