"""Methods: what one training step does. The trainer owns the loop."""
