"""Native collective algorithms: per-phase closed forms and the per-dimension stream pipeline."""
