//! The sandbox: a simulated Kubernetes API server with controllers, served over HTTP.
