"""Example headshot clients on plain httpx, one per provider; see README.md."""
