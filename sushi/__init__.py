"""sushi package."""
