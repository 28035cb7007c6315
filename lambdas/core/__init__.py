"""The domain code the handlers call. Nothing here knows about Lambda events or Step Functions."""
