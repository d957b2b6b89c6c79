"""Runnable lesson scripts for the Transformer chapter (see chapters/README.md)."""
