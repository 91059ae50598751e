"""The optimiser engine (Gatys et al.): torch lives here and only here."""
