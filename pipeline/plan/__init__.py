"""Stage 2, plan: keys, the render cache, the lock file, estimates and shards. Torch-free."""
