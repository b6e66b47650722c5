"""The pure kernel: canonical encoding, keys and signatures, Merkle trees, transactions, blocks, certificates, the genesis file."""
