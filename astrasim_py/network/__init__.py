"""Network backends."""
