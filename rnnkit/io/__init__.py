"""Weight files (atomic writes, a checksummed array format, no pickle) and PyTorch layout converters."""
from .arrays_file import RnnkitFileError, load_arrays, read_array_info, save_arrays
from .files import atomic_write, atomic_write_text, atomic_writer

__all__ = ["RnnkitFileError", "load_arrays", "read_array_info", "save_arrays",
           "atomic_write", "atomic_write_text", "atomic_writer"]
