"""What a node does for one worker's file: assembling their proof bundle and deciding their
entitlements."""
