"""The offline twin of AWS: moto plus the project's fixes, events and the template's wiring."""

#: the twin's default port: not 5000, which macOS's AirPlay Receiver holds, nor LocalStack's 4566
DEFAULT_PORT = 4599
