"""The referral service. Routes graded cases to the agencies that must act and holds them to deadlines."""
