"""A node's law: the rules and agreement records it publishes and holds, and the part of
them a decision needs."""
