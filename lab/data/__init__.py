"""Data: the synthetic face generator, readers for real benchmark formats, crops and the torch Dataset."""
