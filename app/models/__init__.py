"""Models: the embedder and its backends, the model conversion, and the classifier, tone and relevance
models fitted at build time and loaded at serve time."""
