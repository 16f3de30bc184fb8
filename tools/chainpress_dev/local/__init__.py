"""The local stack: moto server, event plumbing and a CloudFront-like HTTP server."""
