"""For client programs and their tests: the async client, typed results, a local network and its pytest fixture."""
