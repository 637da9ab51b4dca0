"""Perturbations applied to evaluation images: common corruptions and adversarial attacks."""
