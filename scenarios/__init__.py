"""Locust user classes, personas, populations and load shapes."""
