"""Losses for generative models: VAE ELBO, VQ-VAE, GANs."""

__all__ = []
