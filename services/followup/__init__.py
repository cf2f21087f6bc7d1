"""The followup service. Schedules and records follow-up visits until the child is safe; says when
a case may close."""
