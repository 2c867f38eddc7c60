"""SQL repositories: each maps rows to core objects and back, inside one unit of work."""
