"""Durable storage: the only user of plyvel."""
