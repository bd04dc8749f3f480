"""REST API plumbing: flask-smorest set-up, one error shape, authentication, lists and ETags."""
