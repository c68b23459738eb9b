"""diffrec_core: a compact PyTorch core for diffusion recommenders (no UI imports)."""
__version__ = "0.1.0"
