"""The audit service: the tamper-evident ledger of every event, checkpoints and case timelines."""
