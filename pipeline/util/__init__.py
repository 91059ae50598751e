"""Small helpers every stage uses: errors, atomic files, hashing, progress."""
