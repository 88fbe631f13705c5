"""Dataset adapters, media readers and transforms."""
