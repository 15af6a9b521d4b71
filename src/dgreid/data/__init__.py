"""Data: dataset loaders, the synthetic benchmark, image decoding, transforms, samplers."""
