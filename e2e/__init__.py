"""End-to-end tests: a real Home Assistant process, driven over REST and in a browser."""
