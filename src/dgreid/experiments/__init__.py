"""Experiments: a training run end to end, the method comparison, and the demo."""
