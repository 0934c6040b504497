"""Serving a log: the sequencer, cosigning, tile read-ahead, WAL upkeep, signature workers."""
