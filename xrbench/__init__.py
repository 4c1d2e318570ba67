"""xrbench package."""
