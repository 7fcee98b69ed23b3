"""A fake contact-center platform and widget fleet that produce signed traffic and every failure mode.

It talks to the console over HTTP only (webhooks, telemetry, and the platform API the
console calls); it never writes the console's tables for traffic. See docs/architecture.md,
"Simulator".
"""
