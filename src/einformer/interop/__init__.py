"""Interop: Hugging Face checkpoints in and out, through strict key maps."""
