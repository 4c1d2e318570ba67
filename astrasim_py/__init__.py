"""astrasim_py package."""
