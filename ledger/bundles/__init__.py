"""Workers' proof bundles: the format, its offline verification, QR, summaries."""
