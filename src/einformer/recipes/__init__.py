"""Recipes: data, model and trainer wired together for one kind of training job (what `einformer
train`, `finetune` and `demo` call). They only train: using a trained model on text is
``einformer.inference``, which the recipes' run objects extend with their own evaluation.

Each recipe keeps only what differs per job and reads the family it trains from the registry
(``einformer.registry``); the run directory (``einformer.training.run_dir``) and the loader
(``einformer.auto``) are shared.
"""
