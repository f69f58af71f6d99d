"""What reads a published tree: the local CDN (``serve``), the report and the OpenAPI generator. Not in
the Lambda layer."""
