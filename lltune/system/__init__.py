"""The running system's services, over D-Bus: a synchronous bus client with hard timeouts,
tuned (com.redhat.tuned), systemd's Manager API, and the journal. No policy lives here."""
