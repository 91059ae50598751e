"""Stage 1, manifest: YAML -> validated Gallery objects; image sources and loading. Knows nothing of torch or HTML."""
