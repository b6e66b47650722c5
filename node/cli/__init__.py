"""The `warrantd` and `warrant` commands and what only they need."""
