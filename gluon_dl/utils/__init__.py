"""Small helpers that import nothing heavier than numpy."""
from .io import atomic_write, atomic_write_bytes, atomic_write_text, remove_tree, replace_dir
from .deps import require
from .outdir import check_output_dir, staged_output

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "check_output_dir",
           "remove_tree", "replace_dir", "require", "staged_output"]
