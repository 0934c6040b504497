"""A back office's filings: reading JSON Lines or CSV rows, submitting them in batches."""
