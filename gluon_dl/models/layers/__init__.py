"""Shared layers, one concept per module (import them by module path)."""
