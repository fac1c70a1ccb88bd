"""Developer tools: run a real Home Assistant with the integration and the sandbox."""
