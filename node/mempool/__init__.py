"""Admitted transactions waiting for a block, and what each peer still lacks of them."""
