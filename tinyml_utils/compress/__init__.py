"""Compression techniques (PyTorch and Keras): pruning, quantization, distillation."""
