//! The pure core of firedrill: configuration, schedule arithmetic and the domain model.
