"""Virtual devices that behave like the Infobip Mobile Messaging SDK on the wire."""
