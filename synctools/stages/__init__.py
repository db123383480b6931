"""The stages of :class:`synctools.Sync`, one module per part of a sync (see machine.py)."""
