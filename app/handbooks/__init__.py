"""Handbooks (build time): repair, cleaning by profile, headings and chunking into passages."""
