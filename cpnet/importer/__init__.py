"""The screening import (排查摸底): a county's survey of every child, read from CSV, XLSX or JSON
lines, validated row by row and published to `intake.screening.raw`; and the XLSX template."""
