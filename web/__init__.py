"""The node's web pages (verifier and explorer): self-contained HTML files shipped as package data."""
