"""HDF5 session files: the layout, the single writer thread, readers and recovery."""
