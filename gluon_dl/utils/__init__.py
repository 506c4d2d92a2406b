"""Small helpers that import nothing heavier than numpy."""
from .io import atomic_write, atomic_write_bytes, atomic_write_text, replace_dir
from .deps import require

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "replace_dir", "require"]
