"""Serving a trained run: recommendations in the data's own ids, from the run directory alone."""
