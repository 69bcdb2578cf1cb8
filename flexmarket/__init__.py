"""flexmarket package."""
