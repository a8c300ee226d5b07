"""Recipes: data, model and trainer wired together for one kind of job (what the CLI calls)."""
