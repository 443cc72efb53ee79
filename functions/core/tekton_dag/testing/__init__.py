"""Test doubles that ship with the library (as httpx ships ``MockTransport``): stand-ins for the
systems this project talks to, each enforcing the rules the real system enforces."""
