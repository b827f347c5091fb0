"""The journey-event backbone: contract, append-only log, feed, consumer and tamper evidence."""
