"""The JSON-RPC interface: envelope, method table, guard, and the aiohttp server (the only aiohttp server)."""
