"""The serving machinery: how the process serves, apart from what it serves."""
