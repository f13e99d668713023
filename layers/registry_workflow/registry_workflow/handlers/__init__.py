"""Event-level entry points, one per Lambda; `functions/<name>/app.py` wires each to Powertools."""
