"""What a snapshot says about latency: the ranked findings and the Markdown report."""
