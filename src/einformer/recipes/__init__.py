"""Recipes: data, model and trainer wired together for one kind of job (what the CLI calls).

Each recipe keeps only what differs per job; the run directory (``einformer.training.run_dir``)
and the loader (``einformer.auto``) are shared.
"""
