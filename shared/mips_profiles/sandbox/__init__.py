"""The embedded default: a CMS stand-in on loopback, generated files in the real layouts, the demo. Not
in the Lambda layer; nothing a Lambda runs imports it."""
