"""Simulated bench instruments served over SCPI on TCP sockets."""
