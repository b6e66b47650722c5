"""WarrantChain node: crypto, encoding, chain types, store, ledger, p2p, RPC and the daemon."""
