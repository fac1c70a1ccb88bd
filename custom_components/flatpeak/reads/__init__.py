"""What Flatpeak holds, read back: state, VPP, prices, the cheapest window."""
