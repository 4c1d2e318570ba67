"""ASTRA-sim's configuration files, loaded unchanged into typed dataclasses."""
