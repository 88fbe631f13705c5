"""Evaluation: metrics, reports and plots for trained models."""
