//! The plugin host: loads scenario components and runs their calls under grants and limits.
