"""The device, options and mapping flows (config_flow.py holds the account's)."""
