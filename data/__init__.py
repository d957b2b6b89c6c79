"""Text to arrays: the corpus, the tokenizers behind one interface, `tf.data` pipelines, and
`NmtError` (level 1: imports nothing from `models/` or `nmt/`)."""
