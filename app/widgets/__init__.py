"""Widgets of the main window, one job per module."""
