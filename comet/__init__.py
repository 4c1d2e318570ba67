"""comet package."""
