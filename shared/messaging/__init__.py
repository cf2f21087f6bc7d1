"""The messaging core every service uses: outbox relay, idempotent consumers, dead letters."""
