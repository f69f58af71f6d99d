"""One adapter per outside system (S3, DynamoDB, HTTP, CloudFront) and the local twins of the ports.
The only modules that may import boto3, botocore or urllib.request (ruff's banned-API rule)."""
