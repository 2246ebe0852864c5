"""Data access: the only modules that talk to AWS. Each wraps ClientError into a domain error."""
