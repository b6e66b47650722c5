"""The validators' authenticated mesh: a sans-I/O handshake and a thin websockets shell (the only user of websockets)."""
