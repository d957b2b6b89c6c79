"""Keras objects only, what the chapter teaches: the layers, the translators with their
incremental-decoding steps (`registry.MODELS`), the one decode loop, and the losses, metrics,
optimizers and schedules training needs (level 2, over `data/`). No files, no printing."""
