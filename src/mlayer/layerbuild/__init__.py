"""Building layer zips: this package touches local files and the builder (pip or
Docker) only; it never calls AWS."""
