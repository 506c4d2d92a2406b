"""Losses for sequence models (seq2seq, language models)."""

__all__ = []
