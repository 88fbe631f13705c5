"""Staged studies: each stage tries options on top of the best configuration so far."""
