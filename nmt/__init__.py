"""The application: config and presets, run folders, training, the `Translator`, evaluation,
comparison reports, export and the `nmt` command line (level 3, over `models/` and `data/`)."""
