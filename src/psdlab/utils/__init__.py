"""Small helpers shared by the entry points: atomic files, run records, instantiation."""
