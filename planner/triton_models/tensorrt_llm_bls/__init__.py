"""Triton Python backend model; see model.py."""
