"""The offline twin of AWS: moto plus the project's fixes, events and the template's wiring."""
