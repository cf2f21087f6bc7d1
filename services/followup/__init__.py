"""The followup service. Schedules and records follow-up visits until the child is safe; closes cases."""
