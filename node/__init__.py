"""One agency's running node.

Settings, keys, the serving loop, peers, filings, the CLI and the demo."""
