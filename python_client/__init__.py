"""python_client package."""
