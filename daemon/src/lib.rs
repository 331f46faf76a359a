//! The firedrill binary's library: command-line interface and adapter wiring.
