"""tacos package."""
