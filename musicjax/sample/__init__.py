"""Decoding from trained models inside lax.scan / while_loop."""
