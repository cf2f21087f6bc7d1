"""The intake service. Takes reports from the hotline topic and over HTTP; owns the child registry
and case ids."""
