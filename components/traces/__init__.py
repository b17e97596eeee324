"""The traces signal: Tempo and its configuration generator."""
