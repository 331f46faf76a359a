//! Run records in an append-only hash chain, and the mail outbox, in embedded SQLite.
