"""Storage of a log: database engines, tables, the SQL tile source and the tile-node file."""
