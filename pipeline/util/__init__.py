"""Small helpers every stage uses: errors, atomic files, hashing, mutexes, safe paths."""
