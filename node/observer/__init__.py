"""Observer nodes: follow the chain without voting (docs/ARCHITECTURE.md, docs/P2P.md section 10)."""
