"""Backbones, fusion modules, heads and the assembled models."""
